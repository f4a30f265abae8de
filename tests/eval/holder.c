/* A stand-in for one evaluation row's program, for the live evaluation (tests/integration/evaluation.rs).
 *
 * Started as the row's executable (a copy of this binary at the row's path) with the row's command line as its
 * argv; names itself (comm) as the row's process, binds the row's socket, says "ok" on stdout and waits.
 * With PW_EXEC set it is the launcher instead: it executes PW_EXEC with its own arguments as argv, so the
 * program's argv[0] can be anything the row says.
 *
 * Environment: PW_EXEC (launcher only), PW_COMM, PW_PROTO (tcp|udp), PW_ADDR, PW_PORT. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *exec = getenv("PW_EXEC");
    if (exec) {
        char *path = strdup(exec);
        unsetenv("PW_EXEC");
        if (argc < 2) return 2;
        execv(path, argv + 1);
        perror("execv");
        return 2;
    }
    const char *comm = getenv("PW_COMM"), *proto = getenv("PW_PROTO"), *addr = getenv("PW_ADDR"),
               *port = getenv("PW_PORT");
    if (!proto || !addr || !port) return 2;
    if (comm) prctl(PR_SET_NAME, comm, 0, 0, 0);
    int udp = strcmp(proto, "udp") == 0, one = 1, fd;
    if (strchr(addr, ':')) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(port))};
        if (inet_pton(AF_INET6, addr, &a.sin6_addr) != 1) return 2;
        fd = socket(AF_INET6, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 3; }
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
        if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) return 2;
        fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 3; }
    }
    if (!udp && listen(fd, 16) < 0) { perror("listen"); return 3; }
    printf("ok\n");
    fflush(stdout);
    for (;;) pause();
}
