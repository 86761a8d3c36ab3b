// dropwhy native addon: owns the BPF program's kernel handles and moves raw
// event bytes to JavaScript in batches. Decoding, filtering and formatting live
// in TypeScript; nothing here looks inside an event.
#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "event.h"
#include "filter.h"
#include "ring-reader.h"
#include "dropwhy.skel.h"

namespace {

// The program wakes the poller only once a batch's worth is pending; the rest
// is picked up by polling, every 10 ms while drops arrive, backing off to every
// 100 ms while none do: an idle tracer wakes 10 times a second, not 100.
constexpr int kPollBusyMs = 10;
constexpr int kPollIdleMs = 100;
constexpr size_t kBatchEvents = 4096;
constexpr auto kFlushAfter = std::chrono::milliseconds(20);
// Batches handed to JS and not yet processed: the thread-safe function's
// queue holds all but the one JS is working on. When JS falls behind, the
// poller blocks on the full queue, the ring fills and the BPF program counts
// the loss.
constexpr size_t kMaxBatchesInFlight = 8;

// libbpf's log can arrive on any thread; it is queued and handed to JS's
// logger the next time the main thread calls into the addon.
std::mutex log_mutex;
std::vector<std::pair<std::string, std::string>> pending_logs;

int QueueLibbpfLog(enum libbpf_print_level level, const char *format, va_list args) {
  // The verifier's log arrives as one long message: keep all of it.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::string text(n > 0 ? n : 0, '\0');
  if (n > 0) vsnprintf(text.data(), text.size() + 1, format, args);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const char *name = level == LIBBPF_WARN ? "warn" : level == LIBBPF_INFO ? "info" : "debug";
  std::lock_guard<std::mutex> lock(log_mutex);
  pending_logs.emplace_back(name, std::move(text));
  return n;
}

void FlushLogs(Napi::Env env, Napi::Function on_log) {
  if (env.IsExceptionPending()) return;
  std::vector<std::pair<std::string, std::string>> logs;
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    logs.swap(pending_logs);
  }
  if (on_log.IsEmpty()) return;
  for (auto &[level, text] : logs) {
    on_log.Call({Napi::String::New(env, level), Napi::String::New(env, text)});
    if (env.IsExceptionPending()) return;
  }
}

// Per-environment state, as better-sqlite3 keeps its SqliteError: the class
// native failures are created in, handed over once by setErrorConstructor.
struct AddonData {
  Napi::FunctionReference tracer_error;
};

Napi::Value SetErrorConstructor(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "setErrorConstructor needs a class").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  env.GetInstanceData<AddonData>()->tracer_error = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

// The one shape of native failure: new TracerError(stage, errno, strerror(errno)),
// the binding's own class; a plain Error saying the same before one was handed
// over. Empty when the constructor threw (that exception is pending).
Napi::Value StageError(Napi::Env env, const char *stage, int err) {
  err = err < 0 ? -err : err;
  const Napi::FunctionReference &tracer_error = env.GetInstanceData<AddonData>()->tracer_error;
  if (tracer_error.IsEmpty()) return Napi::Error::New(env, std::string(stage) + ": " + std::strerror(err)).Value();
  return tracer_error.New({Napi::String::New(env, stage), Napi::Number::New(env, err), Napi::String::New(env, std::strerror(err))});
}

void ThrowStageError(Napi::Env env, const char *stage, int err) {
  Napi::Value error = StageError(env, stage, err);
  if (!error.IsEmpty()) Napi::Error(env, error).ThrowAsJavaScriptException();
}

// libbpf lays a per-CPU value out every round_up(value_size, 8) bytes; the
// counters' bytes go to JavaScript as they are, one struct per CPU.
static_assert(sizeof(struct drop_counters) % 8 == 0, "per-CPU drop_counters must be back to back");

Napi::Buffer<uint8_t> BytesToJs(Napi::Env env, const std::vector<uint8_t> &bytes) {
  return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size());
}

// Visits every key of a hash map with its value (read into *value), in the
// order get_next_key walks them; a key deleted meanwhile is skipped.
template <typename Key, typename Visit>
void ForEachEntry(int fd, void *value, Visit visit) {
  Key key{}, next{};
  const void *previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &next) == 0) {
    key = next;
    previous = &key;
    if (bpf_map_lookup_elem(fd, &key, value) == 0) visit(key);
  }
}

template <typename T>
void AppendBytes(std::vector<uint8_t> &out, const T &value) {
  const auto *bytes = reinterpret_cast<const uint8_t *>(&value);
  out.insert(out.end(), bytes, bytes + sizeof(value));
}

// Sent from the poll thread to the main thread: a batch of raw events, or
// the poll error that ended the thread.
struct Message {
  std::vector<uint8_t> *bytes;
  int poll_error;
};

class Tracer : public Napi::ObjectWrap<Tracer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Tracer",
                       {InstanceMethod<&Tracer::ReadCountersJs>("counters"),
                        InstanceMethod<&Tracer::ReadDropCountsJs>("dropCounts"),
                        InstanceMethod<&Tracer::ReadSocketCountsJs>("socketCounts"),
                        InstanceMethod<&Tracer::ReadStackFramesJs>("stackFrames"),
                        InstanceMethod<&Tracer::DeleteDropCountsJs>("deleteDropCounts"), InstanceMethod<&Tracer::Stop>("stop")});
  }

  // new Tracer({config, ringBytes, countEntries, stackEntries, commandCgroup, onBatch,
  // onError, onLog}): open, configure, load and attach; the poll thread runs until stop().
  // commandCgroup: the cgroup2 directory of a traced command (-- CMD), whose
  // egress records the command's flows; null when no command is traced.
  explicit Tracer(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Tracer>(info) {
    Napi::Env env = info.Env();
    Napi::Object options = info[0].As<Napi::Object>();
    Napi::Buffer<uint8_t> config = options.Get("config").As<Napi::Buffer<uint8_t>>();
    uint32_t ring_bytes = options.Get("ringBytes").As<Napi::Number>().Uint32Value();
    uint32_t count_entries = options.Get("countEntries").As<Napi::Number>().Uint32Value();
    Napi::Value command_cgroup = options.Get("commandCgroup");
    uint32_t stack_entries = options.Get("stackEntries").As<Napi::Number>().Uint32Value();
    on_log_ = Napi::Persistent(options.Get("onLog").As<Napi::Function>());
    on_error_ = Napi::Persistent(options.Get("onError").As<Napi::Function>());

    if (config.Length() != sizeof(struct dropwhy_config)) {
      Napi::TypeError::New(env, "config must be " + std::to_string(sizeof(struct dropwhy_config)) + " bytes")
          .ThrowAsJavaScriptException();
      return;
    }
    const char *stage = "open";
    int err = 0;
    skel_ = dropwhy_bpf__open();
    if (!skel_) {
      err = -errno;
    } else {
      std::memcpy((void *)&skel_->rodata->cfg, config.Data(), sizeof(struct dropwhy_config));
      record_size_ = dropwhy_record_size(skel_->rodata->cfg.features, skel_->rodata->cfg.snaplen);
      err = bpf_map__set_max_entries(skel_->maps.events, ring_bytes);
      if (!err) err = bpf_map__set_max_entries(skel_->maps.drop_counts, count_entries);
      if (!err) err = bpf_map__set_max_entries(skel_->maps.stacks, stack_entries);
      if (!err && !command_cgroup.IsString()) {
        err = bpf_map__set_max_entries(skel_->maps.command_flows, 1);
        if (!err) err = bpf_program__set_autoload(skel_->progs.record_command_flow, false);
      }
    }
    if (!err) {
      stage = "load";
      err = dropwhy_bpf__load(skel_);
    }
    if (!err) {
      stage = "attach";
      err = dropwhy_bpf__attach(skel_);
    }
    if (!err && command_cgroup.IsString()) {
      stage = "cgroup";
      err = AttachToCgroup(command_cgroup.As<Napi::String>().Utf8Value());
    }
    if (!err) {
      // Kept past stop(): the stacks of the last events and counts are read after the detach.
      stage = "stacks";
      stacks_fd_ = dup(bpf_map__fd(skel_->maps.stacks));
      if (stacks_fd_ < 0) err = -errno;
    }
    if (!err) {
      stage = "ringbuf";
      ring_ = std::make_unique<RingReader>();
      err = ring_->Open(bpf_map__fd(skel_->maps.events));
    }
    FlushLogs(env, on_log_.Value());
    if (err) {
      Destroy();
      // A throwing log callback may have left an exception pending: keep that one.
      if (!env.IsExceptionPending()) ThrowStageError(env, stage, err);
      return;
    }

    tsfn_ = TSFN::New(env, options.Get("onBatch").As<Napi::Function>(), "dropwhy-poll", kMaxBatchesInFlight - 1, 1, this,
                      [](Napi::Env env, void *, Tracer *self) { self->OnPollerDone(env); });
    // Kept alive while the thread runs: the thread-safe function's finalizer
    // still needs this object.
    self_ref_ = Napi::Persistent(info.This().As<Napi::Object>());
    batch_ = NewBatch();
    running_ = true;
    napi_add_env_cleanup_hook(env, AbortOnExit, this);
    poller_ = std::thread(&Tracer::PollLoop, this);
  }

  ~Tracer() override {
    Abort();
    if (stacks_fd_ >= 0) close(stacks_fd_);
  }

  // The command's flows are recorded from its cgroup's egress; the skeleton
  // destroys the link with the rest.
  int AttachToCgroup(const std::string &path) {
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    skel_->links.record_command_flow = bpf_program__attach_cgroup(skel_->progs.record_command_flow, fd);
    int err = skel_->links.record_command_flow ? 0 : -errno;
    close(fd);
    return err;
  }

 private:
  static void DeliverMessage(Napi::Env env, Napi::Function on_batch, Tracer *self, Message *message);
  void OnPollerDone(Napi::Env env);
  using TSFN = Napi::TypedThreadSafeFunction<Tracer, Message, DeliverMessage>;

  // Batches are recycled: at most kMaxBatchesInFlight + 1 ever exist (those
  // in flight and the one the poller fills), so the memory they take is fixed
  // however long a storm lasts.
  std::vector<uint8_t> *NewBatch() {
    {
      std::lock_guard<std::mutex> lock(spare_mutex_);
      if (!spare_batches_.empty()) {
        auto *batch = spare_batches_.back();
        spare_batches_.pop_back();
        return batch;
      }
    }
    auto *batch = new std::vector<uint8_t>();
    batch->reserve(kBatchEvents * record_size_);
    return batch;
  }

  // Main thread: JS is done with the batch, the poller may fill it again.
  void RecycleBatch(std::vector<uint8_t> *batch) {
    batch->clear();
    std::lock_guard<std::mutex> lock(spare_mutex_);
    spare_batches_.push_back(batch);
  }

  // Poll thread: one record into the batch; a full batch goes to JS, after
  // its records' room is given back to the program.
  void Take(const uint8_t *bytes, size_t size) {
    if (batch_->empty()) batch_started_ = std::chrono::steady_clock::now();
    batch_->insert(batch_->end(), bytes, bytes + size);
    if (batch_->size() >= kBatchEvents * record_size_) {
      ring_->Release();
      Flush();
    }
  }

  uint64_t Consume() {
    return ring_->Consume([this](const uint8_t *bytes, size_t size) { Take(bytes, size); });
  }

  // Poll thread only. Waits while the queue is full; the next batch is taken
  // only once this one is queued. After Abort() the call fails at once and
  // the batch stays here, emptied.
  void Flush() {
    if (batch_->empty()) return;
    auto *message = new Message{batch_, 0};
    if (tsfn_.BlockingCall(message) != napi_ok) {
      delete message;
      batch_->clear();
      return;
    }
    batch_ = NewBatch();
  }

  void PollLoop() {
    int err = 0;
    int timeout_ms = kPollBusyMs;
    while (!stopping_ && !aborting_) {
      err = ring_->Wait(timeout_ms);
      if (err == -EINTR) err = 0;
      if (err < 0) break;
      // Woken or not: whatever arrived without a wake-up is picked up too.
      uint64_t consumed = Consume();
      timeout_ms = consumed > 0 ? kPollBusyMs : std::min(2 * timeout_ms, kPollIdleMs);
      if (!batch_->empty() && std::chrono::steady_clock::now() - batch_started_ >= kFlushAfter) Flush();
      err = 0;
    }
    if (!aborting_) {
      // Detach before the last read: a drop between the two would be counted
      // as matched, yet neither delivered nor lost.
      bpf_link__destroy(skel_->links.on_kfree_skb);
      skel_->links.on_kfree_skb = nullptr;
      if (!err) Consume();
      Flush();
      if (err) {
        auto *message = new Message{nullptr, err};
        if (tsfn_.BlockingCall(message) != napi_ok) delete message;
      }
    }
    delete batch_;
    batch_ = nullptr;
    tsfn_.Release();
  }

  // counters(): every CPU's struct drop_counters, as the kernel holds them
  // (summed in src/events/counts.ts); none when the map could not be read.
  // After stop(), as they were when the program was detached.
  std::vector<uint8_t> ReadCounters() {
    if (!skel_) return final_counters_;
    int cpus = libbpf_num_possible_cpus();
    std::vector<uint8_t> per_cpu((cpus > 0 ? cpus : 1) * sizeof(struct drop_counters));
    uint32_t key = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &key, per_cpu.data()) != 0) per_cpu.clear();
    return per_cpu;
  }

  Napi::Value ReadCountersJs(const Napi::CallbackInfo &info) { return BytesToJs(info.Env(), ReadCounters()); }

  // Count mode (summary, exporter): every struct drop_key (location, reason,
  // netns, family and protocol, stack id) with its count summed over CPUs, as
  // packed records of struct drop_key + __u64 count. After stop(), the counts
  // as they were when the program was detached.
  Napi::Value ReadDropCountsJs(const Napi::CallbackInfo &info) {
    return BytesToJs(info.Env(), skel_ ? ReadDropCounts() : final_drop_counts_);
  }

  std::vector<uint8_t> ReadDropCounts() {
    std::vector<uint8_t> records;
    int cpus = libbpf_num_possible_cpus();
    std::vector<uint64_t> per_cpu(cpus > 0 ? cpus : 1);
    ForEachEntry<struct drop_key>(bpf_map__fd(skel_->maps.drop_counts), per_cpu.data(), [&](const struct drop_key &key) {
      uint64_t total = 0;
      for (uint64_t count : per_cpu) total += count;
      AppendBytes(records, key);
      AppendBytes(records, total);
    });
    return records;
  }


  // Summary mode with the socket feature: packed struct socket_key + struct
  // socket_count records. After stop(), as they were when the program was detached.
  Napi::Value ReadSocketCountsJs(const Napi::CallbackInfo &info) {
    return BytesToJs(info.Env(), skel_ ? ReadSocketCounts() : final_socket_counts_);
  }

  std::vector<uint8_t> ReadSocketCounts() {
    std::vector<uint8_t> records;
    struct socket_count value {};
    ForEachEntry<struct socket_key>(bpf_map__fd(skel_->maps.socket_counts), &value, [&](const struct socket_key &key) {
      AppendBytes(records, key);
      AppendBytes(records, value);
    });
    return records;
  }


  // stackFrames(ids): a Buffer with, for each stack id of the Int32Array,
  // DROPWHY_STACK_DEPTH raw __u64 addresses, innermost first, zero after the last frame; all zero
  // for an id the stacks map does not hold. Works after stop() too.
  Napi::Value ReadStackFramesJs(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      Napi::TypeError::New(env, "ids must be an Int32Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Int32Array ids = info[0].As<Napi::Int32Array>();
    constexpr size_t kStackBytes = DROPWHY_STACK_DEPTH * sizeof(uint64_t);
    auto frames = Napi::Buffer<uint8_t>::New(env, ids.ElementLength() * kStackBytes);
    for (size_t i = 0; i < ids.ElementLength(); i++) {
      uint32_t id = static_cast<uint32_t>(ids[i]);
      uint8_t *into = frames.Data() + i * kStackBytes;
      if (stacks_fd_ < 0 || ids[i] < 0 || bpf_map_lookup_elem(stacks_fd_, &id, into) != 0) {
        std::memset(into, 0, kStackBytes);
      }
    }
    return frames;
  }

  // deleteDropCounts(keys): removes these packed struct drop_keys from the count
  // map (the exporter frees the slots of idle keys); returns how many were there.
  Napi::Value DeleteDropCountsJs(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsBuffer()) {
      Napi::TypeError::New(env, "keys must be a Buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Buffer<uint8_t> keys = info[0].As<Napi::Buffer<uint8_t>>();
    if (keys.Length() % sizeof(struct drop_key) != 0) {
      Napi::TypeError::New(env, "keys must be whole " + std::to_string(sizeof(struct drop_key)) + "-byte drop_keys")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t deleted = 0;
    if (skel_) {
      int fd = bpf_map__fd(skel_->maps.drop_counts);
      for (size_t at = 0; at < keys.Length(); at += sizeof(struct drop_key)) {
        if (bpf_map_delete_elem(fd, keys.Data() + at) == 0) deleted++;
      }
    }
    return Napi::Number::New(env, deleted);
  }

  // stop(): the poll thread drains the ring, hands over the last batch and
  // releases the thread-safe function; its finalizer joins the thread,
  // destroys the program and resolves the promise with the final counters'
  // bytes, as counters() returns them.
  Napi::Value Stop(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!stop_deferred_) {
      stop_deferred_ = std::make_unique<Napi::Promise::Deferred>(env);
      if (running_) {
        stopping_ = true;
      } else {
        stop_deferred_->Resolve(BytesToJs(env, final_counters_));
      }
    }
    return stop_deferred_->Promise();
  }

  // Process exit or garbage collection without stop(): end the thread now.
  static void AbortOnExit(void *arg) { static_cast<Tracer *>(arg)->Abort(); }

  void Abort() {
    if (!running_) {
      Destroy();
      return;
    }
    aborting_ = true;
    // Wakes the poller if it waits for room in the queue; its calls fail from
    // now on. Batches still queued are freed with the thread-safe function.
    tsfn_.Abort();
    Join();
  }

  void Join() {
    if (poller_.joinable()) poller_.join();
    for (auto *batch : spare_batches_) delete batch;
    spare_batches_.clear();
    if (running_) {
      running_ = false;
      napi_remove_env_cleanup_hook(Env(), AbortOnExit, this);
    }
    Destroy();
  }

  // The one cleanup path for every stage that may have been reached.
  void Destroy() {
    if (skel_) {
      final_counters_ = ReadCounters();
      final_drop_counts_ = ReadDropCounts();
      final_socket_counts_ = ReadSocketCounts();
    }
    ring_.reset();
    dropwhy_bpf__destroy(skel_);
    skel_ = nullptr;
  }

  dropwhy_bpf *skel_ = nullptr;
  std::unique_ptr<RingReader> ring_;
  int stacks_fd_ = -1;
  TSFN tsfn_;
  std::thread poller_;
  std::vector<uint8_t> *batch_ = nullptr;
  std::vector<std::vector<uint8_t> *> spare_batches_;
  std::chrono::steady_clock::time_point batch_started_;
  std::mutex spare_mutex_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> aborting_{false};
  bool running_ = false;
  std::vector<uint8_t> final_counters_;
  // Every ring record of this session has this size (the event, then the packet section with -w).
  size_t record_size_ = sizeof(struct drop_event);
  std::vector<uint8_t> final_drop_counts_;
  std::vector<uint8_t> final_socket_counts_;
  Napi::FunctionReference on_log_;
  Napi::FunctionReference on_error_;
  Napi::ObjectReference self_ref_;
  std::unique_ptr<Napi::Promise::Deferred> stop_deferred_;
};

void Tracer::DeliverMessage(Napi::Env env, Napi::Function on_batch, Tracer *self, Message *message) {
  std::unique_ptr<Message> owned(message);
  if (!message->bytes) {
    if (env) {
      Napi::Value error = StageError(env, "poll", message->poll_error);
      if (!error.IsEmpty()) self->on_error_.Call({error});
    }
    return;
  }
  auto *bytes = message->bytes;
  if (!env) {
    // The thread-safe function is being freed with this batch still queued (an abort).
    delete bytes;
    return;
  }
  // The batch is lent to JS for the call only: afterwards its buffer is
  // detached (a kept reference sees zero bytes) and the memory reused.
  auto buffer = Napi::Buffer<uint8_t>::New(env, bytes->data(), bytes->size());
  on_batch.Call({buffer});
  buffer.ArrayBuffer().Detach();
  FlushLogs(env, self->on_log_.Value());
  self->RecycleBatch(bytes);
}

void Tracer::OnPollerDone(Napi::Env env) {
  Join();
  FlushLogs(env, on_log_.Value());
  if (stop_deferred_) stop_deferred_->Resolve(BytesToJs(env, final_counters_));
  self_ref_.Reset();
}

// btfMembers(kind, name): the members of a named enum ([name, value] pairs)
// or struct ([name, bit offset] pairs) in the running kernel's BTF, or null
// when the kernel has no such type.
Napi::Value BtfMembers(const Napi::CallbackInfo &info) {
  // Parsed once for the process (some MB): the kernel facts ask for several types.
  static struct btf *btf = nullptr;
  Napi::Env env = info.Env();
  bool is_enum = info[0].As<Napi::String>().Utf8Value() == "enum";
  std::string name = info[1].As<Napi::String>();
  if (!btf) btf = btf__load_vmlinux_btf();
  if (!btf) {
    ThrowStageError(env, "btf", errno);
    return env.Undefined();
  }
  Napi::Value result = env.Null();
  int id = btf__find_by_name_kind(btf, name.c_str(), is_enum ? BTF_KIND_ENUM : BTF_KIND_STRUCT);
  if (id > 0) {
    const struct btf_type *type = btf__type_by_id(btf, id);
    uint16_t count = btf_vlen(type);
    Napi::Array entries = Napi::Array::New(env, count);
    for (uint16_t i = 0; i < count; i++) {
      uint32_t name_off = is_enum ? btf_enum(type)[i].name_off : btf_members(type)[i].name_off;
      uint32_t value = is_enum ? static_cast<uint32_t>(btf_enum(type)[i].val) : btf_member_bit_offset(type, i);
      Napi::Array entry = Napi::Array::New(env, 2);
      entry.Set(0u, Napi::String::New(env, btf__name_by_offset(btf, name_off)));
      entry.Set(1u, Napi::Number::New(env, value));
      entries.Set(i, entry);
    }
    result = entries;
  }
  return result;
}

// Whether the kernel creates a BPF ring buffer (Linux 5.8+), which needs the
// privileges to create maps: 0, or the errno bpf() refused it with. EINVAL is
// a kernel without ring buffers, EPERM a missing privilege or a seccomp filter;
// libbpf_probe_bpf_map_type() answers "not supported" to both.
Napi::Value ProbeRingbuf(const Napi::CallbackInfo &info) {
  int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, nullptr, 0, 0, getpagesize(), nullptr);
  if (fd >= 0) close(fd);
  return Napi::Number::New(info.Env(), fd < 0 ? -fd : 0);
}

// growPipe(fd, bytes): asks the kernel for a pipe buffer of at least bytes on
// fd (F_SETPIPE_SZ); never shrinks it. Returns the buffer's size after, or
// -errno when fd is no pipe (EBADF) or the size could not be read. A refused
// growth (EPERM: over fs.pipe-max-size or the user's pipe pages) keeps the
// size it had.
Napi::Value GrowPipe(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int bytes = info[1].As<Napi::Number>().Int32Value();
  int size = fcntl(fd, F_GETPIPE_SZ);
  if (size >= 0 && size < bytes) {
    int grown = fcntl(fd, F_SETPIPE_SZ, bytes);
    if (grown >= 0) size = grown;
  }
  return Napi::Number::New(info.Env(), size >= 0 ? size : -errno);
}

// The sizes of event.h's structs as this addon (and its BPF program) was
// compiled with them: the TypeScript side refuses an addon built from
// another event.h, whose records it would misread.
Napi::Object StructSizes(Napi::Env env) {
  Napi::Object sizes = Napi::Object::New(env);
  sizes.Set("drop_event", sizeof(struct drop_event));
  sizes.Set("drop_packet", sizeof(struct drop_packet));
  sizes.Set("drop_counters", sizeof(struct drop_counters));
  sizes.Set("drop_key", sizeof(struct drop_key));
  sizes.Set("socket_key", sizeof(struct socket_key));
  sizes.Set("socket_count", sizeof(struct socket_count));
  sizes.Set("dropwhy_config", sizeof(struct dropwhy_config));
  return sizes;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(QueueLibbpfLog);
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorConstructor", Napi::Function::New<SetErrorConstructor>(env, "setErrorConstructor"));
  exports.Set("Tracer", Tracer::Define(env));
  exports.Set("btfMembers", Napi::Function::New<BtfMembers>(env, "btfMembers"));
  exports.Set("compileFilter", Napi::Function::New<dropwhy::CompileFilter>(env, "compileFilter"));
  exports.Set("probeRingbuf", Napi::Function::New<ProbeRingbuf>(env, "probeRingbuf"));
  exports.Set("growPipe", Napi::Function::New<GrowPipe>(env, "growPipe"));
  exports.Set("libbpfVersion", Napi::String::New(env, libbpf_version_string()));
  exports.Set("structSizes", StructSizes(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(dropwhy, Init)
