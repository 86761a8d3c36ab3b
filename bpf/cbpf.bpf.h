/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The classic BPF interpreter: runs a filter expression as libpcap compiles
 * it (for DLT_RAW: packets that start at the network header) on the bytes
 * the header parser read. test/unit/cbpf.ts is the reference interpreter
 * whose verdicts the tests compare with this one's on real packets.
 */
#ifndef DROPWHY_CBPF_BPF_H
#define DROPWHY_CBPF_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "event.h"
#include "parse.bpf.h"

/* Classic BPF, as libpcap compiles a filter expression: the fields of a
 * struct sock_filter and the parts of its opcode. */
#define CBPF_CODE(insn) ((__u16)(insn))
#define CBPF_JT(insn) ((__u8)((insn) >> 16))
#define CBPF_JF(insn) ((__u8)((insn) >> 24))
#define CBPF_K(insn) ((__u32)((insn) >> 32))
#define CBPF_CLASS(code) ((code) & 0x07)
#define CBPF_SIZE(code) ((code) & 0x18)
#define CBPF_MODE(code) ((code) & 0xe0)
#define CBPF_OP(code) ((code) & 0xf0)
#define CBPF_SRC_X(code) ((code) & 0x08)
enum { CBPF_LD = 0, CBPF_LDX, CBPF_ST, CBPF_STX, CBPF_ALU, CBPF_JMP, CBPF_RET, CBPF_MISC };
enum { CBPF_W = 0x00, CBPF_H = 0x08, CBPF_B = 0x10 };
enum { CBPF_IMM = 0x00, CBPF_ABS = 0x20, CBPF_IND = 0x40, CBPF_MEM = 0x60, CBPF_LEN = 0x80, CBPF_MSH = 0xa0 };
enum {
	CBPF_ADD = 0x00, CBPF_SUB = 0x10, CBPF_MUL = 0x20, CBPF_DIV = 0x30, CBPF_OR = 0x40, CBPF_AND = 0x50,
	CBPF_LSH = 0x60, CBPF_RSH = 0x70, CBPF_NEG = 0x80, CBPF_MOD = 0x90, CBPF_XOR = 0xa0,
};
enum { CBPF_JA = 0x00, CBPF_JEQ = 0x10, CBPF_JGT = 0x20, CBPF_JGE = 0x30, CBPF_JSET = 0x40 };
#define CBPF_RET_A 0x10
#define CBPF_RET_X 0x08
#define CBPF_TXA 0x80
#define CBPF_MEMWORDS 16

/* The packet's length, as its network header declares it (what a capture's
 * wire length would be); the linear data's when the header declares none. */
static __always_inline __u32 declared_length(const __u8 *hdr, const struct packet_view *pkt)
{
	__u16 ipv4_total = bpf_ntohs(*(const __u16 *)&hdr[2]);
	__u16 ipv6_payload = bpf_ntohs(*(const __u16 *)&hdr[4]);

	if ((hdr[0] >> 4) == 4 && ipv4_total)
		return ipv4_total;
	if ((hdr[0] >> 4) == 6 && ipv6_payload)
		return 40 + (__u32)ipv6_payload;
	return pkt->end;
}

/* A classic BPF packet load: size (1, 2 or 4) bytes at off, big-endian. From
 * the bytes parse_packet read when they hold them, else one more read; false
 * when a byte lies outside the packet, which ends the program with "no match",
 * as classic BPF does. */
static __always_inline bool cbpf_load(const __u8 *hdr, const struct packet_view *pkt, __u32 len, __u32 off, __u32 size,
				      __u32 *value)
{
	__u32 end = min_u32(pkt->end, len);
	__u8 bytes[4] = {};

	if (off > end || size > end - off)
		return false;
	if (pkt->read == HEADER_BYTES && off <= HEADER_BYTES - 4) {
		const __u8 *at = hdr + (off & (HEADER_BYTES - 1));

		__builtin_memcpy(bytes, at, 4);
	} else if (bpf_probe_read_kernel(bytes, size & 7, pkt->net + off)) {
		return false;
	}
	if (size == 1)
		*value = bytes[0];
	else if (size == 2)
		*value = (__u32)bytes[0] << 8 | bytes[1];
	else
		*value = (__u32)bytes[0] << 24 | (__u32)bytes[1] << 16 | (__u32)bytes[2] << 8 | bytes[3];
	return true;
}

static __always_inline bool cbpf_alu(__u16 code, __u32 operand, __u32 *a)
{
	switch (CBPF_OP(code)) {
	case CBPF_ADD: *a += operand; return true;
	case CBPF_SUB: *a -= operand; return true;
	case CBPF_MUL: *a *= operand; return true;
	case CBPF_DIV: if (!operand) return false; *a /= operand; return true;
	case CBPF_MOD: if (!operand) return false; *a %= operand; return true;
	case CBPF_OR: *a |= operand; return true;
	case CBPF_AND: *a &= operand; return true;
	case CBPF_XOR: *a ^= operand; return true;
	/* Shifts of 32 or more leave nothing (C and eBPF leave them undefined). */
	case CBPF_LSH: *a = operand < 32 ? *a << operand : 0; return true;
	case CBPF_RSH: *a = operand < 32 ? *a >> operand : 0; return true;
	case CBPF_NEG: *a = -*a; return true;
	}
	return false;
}

static __always_inline bool cbpf_jump_taken(__u16 code, __u32 a, __u32 operand)
{
	switch (CBPF_OP(code)) {
	case CBPF_JEQ: return a == operand;
	case CBPF_JGT: return a > operand;
	case CBPF_JGE: return a >= operand;
	case CBPF_JSET: return a & operand;
	}
	return false;
}

/*
 * Runs a classic BPF program (insn_count instructions at insns) on the packet.
 * Both must be in the frozen .rodata (read through volatile pointers, as the
 * const volatile config is): the verifier then knows each instruction while it
 * checks this loop and follows only the branches that program takes. Classic
 * BPF jumps only forward, so pc grows every step and the loop ends within
 * insn_count steps. An unknown instruction, a division by zero or a load
 * outside the packet: no match.
 */
static __always_inline bool cbpf_run(const volatile __u64 *insns, const volatile __u16 *insn_count, const __u8 *hdr,
				     const struct packet_view *pkt)
{
	__u32 mem[CBPF_MEMWORDS] = {};
	__u32 a = 0, x = 0, pc = 0, len, value;

	if (!pkt->read)
		return false;
	len = declared_length(hdr, pkt);
	for (int step = 0; step < DROPWHY_MAX_FILTER_INSNS; step++) {
		if (pc >= *insn_count || pc >= DROPWHY_MAX_FILTER_INSNS)
			return false;
		__u64 insn = insns[pc];
		__u16 code = CBPF_CODE(insn);
		__u32 k = CBPF_K(insn);
		__u32 size = CBPF_SIZE(code) == CBPF_B ? 1 : CBPF_SIZE(code) == CBPF_H ? 2 : 4;

		pc++;
		switch (CBPF_CLASS(code)) {
		case CBPF_LD:
			switch (CBPF_MODE(code)) {
			case CBPF_IMM: a = k; break;
			case CBPF_LEN: a = len; break;
			case CBPF_MEM: a = mem[k & (CBPF_MEMWORDS - 1)]; break;
			case CBPF_ABS:
				if (!cbpf_load(hdr, pkt, len, k, size, &a))
					return false;
				break;
			case CBPF_IND:
				if (!cbpf_load(hdr, pkt, len, x + k, size, &a))
					return false;
				break;
			default: return false;
			}
			break;
		case CBPF_LDX:
			switch (CBPF_MODE(code)) {
			case CBPF_IMM: x = k; break;
			case CBPF_LEN: x = len; break;
			case CBPF_MEM: x = mem[k & (CBPF_MEMWORDS - 1)]; break;
			case CBPF_MSH:
				if (!cbpf_load(hdr, pkt, len, k, 1, &value))
					return false;
				x = (value & 0x0f) * 4;
				break;
			default: return false;
			}
			break;
		case CBPF_ST: mem[k & (CBPF_MEMWORDS - 1)] = a; break;
		case CBPF_STX: mem[k & (CBPF_MEMWORDS - 1)] = x; break;
		case CBPF_ALU:
			if (!cbpf_alu(code, CBPF_SRC_X(code) ? x : k, &a))
				return false;
			break;
		case CBPF_JMP:
			if (CBPF_OP(code) == CBPF_JA)
				pc += k;
			else
				pc += cbpf_jump_taken(code, a, CBPF_SRC_X(code) ? x : k) ? CBPF_JT(insn) : CBPF_JF(insn);
			break;
		case CBPF_RET:
			value = CBPF_SIZE(code) == CBPF_RET_A ? a : CBPF_SIZE(code) == CBPF_RET_X ? x : k;
			return value != 0;
		case CBPF_MISC:
			if ((code & 0xf8) == CBPF_TXA)
				a = x;
			else
				x = a;
			break;
		}
	}
	return false;
}

#endif /* DROPWHY_CBPF_BPF_H */
