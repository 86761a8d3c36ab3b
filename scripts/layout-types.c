/* SPDX-License-Identifier: MIT */
/*
 * Compiled by scripts/gen-layout.js for its BTF alone: clang describes only the
 * types a program uses, so this names, once, each type of bpf/event.h that user
 * space reads. The generator emits the type of every member of dropwhy_layout.
 */
#include "vmlinux.h"
#include "event.h"

struct dropwhy_layout {
	struct drop_event event;
	struct drop_socket socket;
	struct drop_packet packet;
	struct drop_counters counters;
	struct drop_key key;
	struct socket_key socket_key;
	struct socket_count socket_count;
	struct dropwhy_config config;
	enum dropwhy_limit limit;
	enum dropwhy_stack stack;
	enum dropwhy_packet_limit packet_limit;
	enum drop_event_flag event_flag;
	enum drop_socket_family socket_family;
	enum drop_family family;
	enum drop_packet_link packet_link;
	enum dropwhy_mode mode;
	enum dropwhy_feature feature;
} dropwhy_layout;
