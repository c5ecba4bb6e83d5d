import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../../relay/build/native.ts';

/**
 * A preload for the load generator, not for a server: every UDP socket the process opens gets
 * EDGEBOOT_RCVBUF bytes of receive buffer (SO_RCVBUFFORCE as root, else SO_RCVBUF). perfdhcp reads
 * every reply of a run on one socket with the kernel's default buffer (~200 KiB, ~150 replies); a
 * server that answers a backlog in a burst overflows it, and those exchanges count as lost although
 * the server sent them. On a site each client has its own NIC. Compiled into `dir` with the system cc (relay/build/native.ts compile).
 */
const SOURCE = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>

int socket(int domain, int type, int protocol) {
  static int (*real)(int, int, int);
  if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
  int fd = real(domain, type, protocol);
  const char *want = getenv("EDGEBOOT_RCVBUF");
  if (fd >= 0 && want && (type & 0xf) == SOCK_DGRAM && (domain == AF_INET || domain == AF_INET6)) {
    int bytes = atoi(want);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  return fd;
}
`;

/** The environment that gives a spawned generator `bytes` of receive buffer per UDP socket. */
export function rcvbufShim(dir: string, bytes: number): Record<string, string> {
  const src = join(dir, 'rcvbuf-shim.c');
  writeFileSync(src, SOURCE);
  const out = compile(src, join(dir, 'rcvbuf-shim.so'), ['-shared', '-fPIC'], 'gcc libc6-dev');
  return { LD_PRELOAD: out, EDGEBOOT_RCVBUF: String(bytes) };
}
