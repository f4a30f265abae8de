// SPDX-License-Identifier: MIT OR Apache-2.0 OR GPL-2.0
/* Listener events for `portwarden watch`: every TCP socket that starts or stops listening and every UDP socket
 * that is bound to a port or closed, with the process that did it, sent to user space through one ring buffer.
 *
 * Hooks:
 *
 * - TCP: the `sock:inet_sock_set_state` tracepoint (as `tp_btf`: the verifier checks each field read against the
 *   kernel's own types), a stable tracepoint that fires on every TCP state change, including the move to
 *   TCP_LISTEN in listen() and the move away from it (close(), shutdown()).
 *
 * - UDP has no tracepoint on binding. The cgroup socket hooks are the stable way in: `post_bind4` and `post_bind6`
 *   run after every successful bind() of an IPv4 or IPv6 socket, the port then allocated, and `sock_release` when
 *   an inet socket is closed (inet_release). They are part of the kernel's ABI (program and attach types never
 *   change), where the functions on the port-allocation path (udp_lib_get_port, udp_lib_unhash) could only be
 *   reached through fentry/fexit or kprobes, which follow the kernel's internals and which some kernels refuse
 *   (kprobes not built in; trampolines not permitted: both the case on the machine this was written on). Attached
 *   to the root of the cgroup v2 hierarchy, they run for every process on the machine, containers included.
 *   Their limits: a UDP socket bound by sendto() without bind() raises no event, nor does one that connect()
 *   turns into a client (it stays bound, but sock_diag lists it as connected): the reconciling scan in user space
 *   sees those. These programs must return 1 (allow): they observe, never refuse.
 *
 * Nothing here filters by network namespace: each event carries the socket's, and user space keeps those it
 * watches. Every field is read with CO-RE relocations (BPF_CORE_READ), so one object serves every kernel whose BTF
 * has these fields.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_LISTEN 10

/* What happened to the socket. */
#define LISTENING 1 /* TCP: now listening; UDP: now bound to a port */
#define GONE 2      /* no longer listening (TCP: closed, shut down) or bound (UDP: closed) */

/* One event, as user space reads it (src/platform/linux/listener_events.rs parses it: keep the two in step). */
struct listener_event {
	__u64 time_ns;        /* bpf_ktime_get_boot_ns() when it happened */
	__u64 socket_inode;   /* as in socket:[INODE] and sock_diag */
	__u64 start_boottime; /* of the process (its thread-group leader), ns since boot: tells a reused PID */
	__u32 tgid;
	__u32 netns_inode;    /* the socket's network namespace, as in net:[INODE] */
	__u32 uid;            /* the socket's owner, as sock_diag reports it */
	__u32 process_uid;    /* the process's real uid */
	__s32 bound_dev_if;   /* SO_BINDTODEVICE's interface index, 0 for none */
	__u8 address[16];     /* IPv4: the first 4 bytes; network order */
	__u16 port;
	__u8 family;          /* 4 or 6 */
	__u8 protocol;        /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 kind;            /* LISTENING or GONE */
	__u8 v6only;
	__u8 pad[2];
	char comm[16];        /* of the process (its thread-group leader) */
	__u32 pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} EVENTS SEC(".maps");

/* Events that found the ring buffer full: user space then lists the machine at once instead of trusting events. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} LOST SEC(".maps");

static __always_inline void send(struct sock *sk, __u8 protocol, __u8 kind)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return;
	struct listener_event *e = bpf_ringbuf_reserve(&EVENTS, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&LOST, &zero);
		if (lost)
			__sync_fetch_and_add(lost, 1);
		return;
	}
	struct socket *sock = BPF_CORE_READ(sk, sk_socket);
	e->socket_inode = 0;
	if (sock)
		bpf_core_read(&e->socket_inode, sizeof(e->socket_inode),
			      &((struct socket_alloc *)sock)->vfs_inode.i_ino);
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	e->start_boottime = BPF_CORE_READ(leader, start_boottime);
	e->tgid = BPF_CORE_READ(task, tgid);
	e->process_uid = (__u32)bpf_get_current_uid_gid();
	e->time_ns = bpf_ktime_get_boot_ns();
	BPF_CORE_READ_INTO(&e->comm, leader, comm);
	e->netns_inode = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	e->uid = BPF_CORE_READ(sk, sk_uid.val);
	e->bound_dev_if = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	__builtin_memset(e->address, 0, sizeof(e->address));
	if (family == AF_INET) {
		__be32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(e->address, &a, 4);
		e->v6only = 0;
	} else {
		bpf_core_read(e->address, sizeof(e->address), &sk->__sk_common.skc_v6_rcv_saddr);
		e->v6only = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_ipv6only);
	}
	e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->family = family == AF_INET ? 4 : 6;
	e->protocol = protocol;
	e->kind = kind;
	e->pad[0] = 0;
	e->pad[1] = 0;
	e->pad2 = 0;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state, struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_LISTEN)
		send(sk, IPPROTO_TCP, LISTENING);
	else if (oldstate == TCP_LISTEN)
		send(sk, IPPROTO_TCP, GONE);
	return 0;
}

/* The context of a cgroup socket program is the kernel's `struct sock` behind the `struct bpf_sock` view. */
SEC("cgroup/post_bind4")
int udp_bound4(void *ctx)
{
	struct sock *sk = ctx;
	if (BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP)
		send(sk, IPPROTO_UDP, LISTENING);
	return 1;
}

SEC("cgroup/post_bind6")
int udp_bound6(void *ctx)
{
	struct sock *sk = ctx;
	if (BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP)
		send(sk, IPPROTO_UDP, LISTENING);
	return 1;
}

SEC("cgroup/sock_release")
int udp_closed(void *ctx)
{
	struct sock *sk = ctx;
	if (BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP && BPF_CORE_READ(sk, __sk_common.skc_num) != 0)
		send(sk, IPPROTO_UDP, GONE);
	return 1;
}
