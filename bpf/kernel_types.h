/* The few kernel types the listener programs read, declared by hand instead of a generated vmlinux.h: only the
 * fields used, so a reviewer sees everything the programs touch, and the object does not depend on the kernel it
 * was built on. `preserve_access_index` makes every access a CO-RE relocation: the loader moves each field to its
 * offset in the running kernel's BTF, so these declarations need not match any kernel's layout.
 */
#ifndef PORTWARDEN_KERNEL_TYPES_H
#define PORTWARDEN_KERNEL_TYPES_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

/* From the kernel's UAPI (linux/bpf.h), fixed numbers. */
enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_RINGBUF = 27,
};
#define BPF_ANY 0

#define PRESERVE __attribute__((preserve_access_index))

struct ns_common {
	unsigned int inum;
} PRESERVE;

struct net {
	struct ns_common ns;
} PRESERVE;

typedef struct {
	struct net *net;
} PRESERVE possible_net_t;

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
} PRESERVE;

struct sock_common {
	__be32 skc_rcv_saddr;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	unsigned char skc_ipv6only : 1;
	int skc_bound_dev_if;
	possible_net_t skc_net;
	struct in6_addr skc_v6_rcv_saddr;
} PRESERVE;

typedef struct {
	__u32 val;
} PRESERVE kuid_t;

struct inode {
	unsigned long i_ino;
} PRESERVE;

struct sock;

struct socket {
	struct sock *sk;
} PRESERVE;

/* A socket's inode is allocated with it (sock_alloc_inode): the inode number sock_diag and /proc/PID/fd show is
 * that of the `vfs_inode` beside the `struct socket`, which also exists for kernel sockets without a file. */
struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
} PRESERVE;

struct sock {
	struct sock_common __sk_common;
	struct socket *sk_socket;
	kuid_t sk_uid;
	__u16 sk_protocol;
} PRESERVE;

struct task_struct {
	int tgid;
	__u64 start_boottime;
	struct task_struct *group_leader;
	char comm[16];
} PRESERVE;

#endif
