// Filter expressions compiled by libpcap, in their own translation unit:
// libpcap's struct bpf_insn (classic BPF) and libbpf's (eBPF) share a name.
#pragma once
#include <napi.h>

namespace dropwhy {

// compileFilter(expression, snaplen): the tcpdump expression compiled by
// libpcap for packets that start at the network header (DLT_RAW), as the bytes
// of its struct sock_filter array; throws libpcap's own message.
Napi::Value CompileFilter(const Napi::CallbackInfo &info);

}  // namespace dropwhy
