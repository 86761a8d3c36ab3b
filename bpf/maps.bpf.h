/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Map helpers shared by the program's sections.
 */
#ifndef DROPWHY_MAPS_BPF_H
#define DROPWHY_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* What lookup_or_try_init found under the key. */
enum map_slot {
	MAP_SLOT_FULL,     /* no value, and no room in the map for init */
	MAP_SLOT_INSERTED, /* no value: init is the key's value now */
	MAP_SLOT_FOUND,    /* a value, at *value */
};

/*
 * The value under key, else init inserted under it: bcc's
 * bpf_map_lookup_or_try_init (libbpf-tools/maps.bpf.h), but telling the
 * caller whether init went in, as a caller that counts in the value has
 * counted once it has. Another CPU may insert the key between the lookup
 * and the insert (BPF_NOEXIST then fails): its value is found by a second
 * lookup. Only a full map leaves the key without a value.
 */
static __always_inline enum map_slot lookup_or_try_init(void *map, const void *key, const void *init, void **value)
{
	*value = bpf_map_lookup_elem(map, key);
	if (*value)
		return MAP_SLOT_FOUND;
	if (bpf_map_update_elem(map, key, init, BPF_NOEXIST) == 0)
		return MAP_SLOT_INSERTED;
	*value = bpf_map_lookup_elem(map, key);
	return *value ? MAP_SLOT_FOUND : MAP_SLOT_FULL;
}

#endif /* DROPWHY_MAPS_BPF_H */
