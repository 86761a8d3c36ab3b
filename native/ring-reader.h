// The consumer side of a BPF ring buffer map, as libbpf's ring_buffer reads it,
// but telling the kernel what it has read once per span of records, not once
// per record: the program reads the consumer position at every reservation, so
// each store by this reader on another CPU costs every reservation after it a
// cache miss. The protocol (two mappings, the 8-byte record header, its busy and
// discard bits) is the kernel's, kernel/bpf/ringbuf.c.
#ifndef DROPWHY_RING_READER_H
#define DROPWHY_RING_READER_H

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

class RingReader {
 public:
  // Bytes of records read before the consumer position is stored: the program
  // sees the room they took back at least this often.
  static constexpr uint64_t kReleaseBytes = 64 * 1024;

  // 0, or a negative errno: the map's info, the two mappings or the epoll set.
  int Open(int map_fd) {
    struct bpf_map_info info = {};
    uint32_t info_len = sizeof(info);
    if (bpf_obj_get_info_by_fd(map_fd, &info, &info_len) != 0) return -errno;
    if (info.type != BPF_MAP_TYPE_RINGBUF) return -EINVAL;
    page_size_ = static_cast<size_t>(getpagesize());
    mask_ = info.max_entries - 1;
    void *consumer = mmap(nullptr, page_size_, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (consumer == MAP_FAILED) return -errno;
    consumer_pos_ = static_cast<uint64_t *>(consumer);
    // The data pages are mapped twice in a row: a record that wraps around the end reads as one piece.
    data_bytes_ = page_size_ + 2 * static_cast<size_t>(info.max_entries);
    void *producer = mmap(nullptr, data_bytes_, PROT_READ, MAP_SHARED, map_fd, static_cast<off_t>(page_size_));
    if (producer == MAP_FAILED) return -errno;
    producer_pos_ = static_cast<uint64_t *>(producer);
    data_ = static_cast<uint8_t *>(producer) + page_size_;
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return -errno;
    struct epoll_event wanted = {};
    wanted.events = EPOLLIN;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, map_fd, &wanted) < 0) return -errno;
    read_pos_ = released_pos_ = __atomic_load_n(consumer_pos_, __ATOMIC_ACQUIRE);
    return 0;
  }

  ~RingReader() {
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (producer_pos_) munmap(producer_pos_, data_bytes_);
    if (consumer_pos_) munmap(consumer_pos_, page_size_);
  }

  // Waits up to timeout_ms for a wake-up: 1 woken, 0 not, or a negative errno.
  int Wait(int timeout_ms) {
    struct epoll_event event;
    int woken = epoll_wait(epoll_fd_, &event, 1, timeout_ms);
    return woken < 0 ? -errno : woken;
  }

  // Calls sample(data, size) for every committed record, in order, until one
  // is still being written; the room read is given back every kReleaseBytes
  // and at the end. Returns the records read.
  template <typename Sample>
  uint64_t Consume(Sample &&sample) {
    uint64_t count = 0;
    bool more = true;
    while (more) {
      more = false;
      uint64_t producer = __atomic_load_n(producer_pos_, __ATOMIC_ACQUIRE);
      while (read_pos_ < producer) {
        const uint8_t *record = data_ + (read_pos_ & mask_);
        uint32_t header = __atomic_load_n(reinterpret_cast<const uint32_t *>(record), __ATOMIC_ACQUIRE);
        if (header & BPF_RINGBUF_BUSY_BIT) {
          Release();
          return count;
        }
        uint32_t size = header & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
        read_pos_ += (size + BPF_RINGBUF_HDR_SZ + 7) / 8 * 8;
        more = true;
        if (!(header & BPF_RINGBUF_DISCARD_BIT)) {
          sample(record + BPF_RINGBUF_HDR_SZ, size);
          count++;
        }
        if (read_pos_ - released_pos_ >= kReleaseBytes) Release();
      }
    }
    Release();
    return count;
  }

  // Gives the room of the records read so far back to the program (before a
  // wait that may be long, such as a full queue to JS).
  void Release() {
    if (read_pos_ == released_pos_) return;
    __atomic_store_n(consumer_pos_, read_pos_, __ATOMIC_RELEASE);
    released_pos_ = read_pos_;
  }

 private:
  uint64_t *consumer_pos_ = nullptr;
  uint64_t *producer_pos_ = nullptr;
  const uint8_t *data_ = nullptr;
  size_t page_size_ = 0;
  size_t data_bytes_ = 0;
  uint64_t mask_ = 0;
  int epoll_fd_ = -1;
  // Where the next record starts, and what the kernel was last told.
  uint64_t read_pos_ = 0;
  uint64_t released_pos_ = 0;
};

#endif
