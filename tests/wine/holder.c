/* A Windows program that holds sockets for tests/wine.rs: each argument is PROTO,ADDRESS,PORT (tcp or udp, an IPv4
 * or IPv6 literal, 0 for any free port). It prints the ports it bound, space-separated on one line, then holds the
 * sockets until its standard input closes. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        fprintf(stderr, "holder: WSAStartup failed\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        char spec[128];
        strncpy(spec, argv[i], sizeof spec - 1);
        spec[sizeof spec - 1] = 0;
        char *proto = strtok(spec, ","), *addr = strtok(NULL, ","), *port = strtok(NULL, ",");
        if (!proto || !addr || !port) {
            fprintf(stderr, "holder: bad spec %s (expected PROTO,ADDRESS,PORT)\n", argv[i]);
            return 2;
        }
        int tcp = strcmp(proto, "tcp") == 0;
        struct addrinfo hints = {0}, *ai = NULL;
        hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
        hints.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM;
        if (getaddrinfo(addr, port, &hints, &ai) != 0 || !ai) {
            fprintf(stderr, "holder: bad address %s\n", addr);
            return 2;
        }
        SOCKET s = socket(ai->ai_family, ai->ai_socktype, 0);
        if (s == INVALID_SOCKET || bind(s, ai->ai_addr, (int)ai->ai_addrlen) != 0 || (tcp && listen(s, 16) != 0)) {
            fprintf(stderr, "holder: cannot bind %s: error %d\n", argv[i], WSAGetLastError());
            return 2;
        }
        freeaddrinfo(ai);
        struct sockaddr_storage bound;
        int len = sizeof bound;
        getsockname(s, (struct sockaddr *)&bound, &len);
        unsigned short p = bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                       : ((struct sockaddr_in *)&bound)->sin_port;
        printf("%s%u", i > 1 ? " " : "", ntohs(p));
    }
    printf("\n");
    fflush(stdout);
    while (getchar() != EOF) {
    }
    return 0;
}
