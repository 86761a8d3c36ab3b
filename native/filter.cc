#include "filter.h"

#include <pcap/pcap.h>

#include <memory>
#include <string>

namespace dropwhy {

Napi::Value CompileFilter(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string expression = info[0].As<Napi::String>();
  int snaplen = info[1].As<Napi::Number>().Int32Value();
  std::unique_ptr<pcap_t, decltype(&pcap_close)> pcap(pcap_open_dead(DLT_RAW, snaplen), pcap_close);
  if (!pcap) {
    Napi::Error::New(env, "pcap_open_dead failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct bpf_program program;
  if (pcap_compile(pcap.get(), &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    Napi::Error::New(env, pcap_geterr(pcap.get())).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto bytes = Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t *>(program.bf_insns),
                                           program.bf_len * sizeof(struct bpf_insn));
  pcap_freecode(&program);
  return bytes;
}

}  // namespace dropwhy
