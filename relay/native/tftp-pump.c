/*
 * edgeboot-tftp-pump: the relay's TFTP data path, one thread per transfer.
 *
 * Why it exists. At windowsize 1 (what nearly all PXE firmware uses) a transfer is one DATA, one ACK,
 * turn after turn: its speed is the time each side takes to answer. tftp-hpa answers from a process
 * blocked in poll/recv; Node answers from its event loop (epoll, libuv's recvmsg loop, a JavaScript
 * callback, dgram's send), which measured 0.72-0.84x tftp-hpa's speed, and a Node server that does
 * nothing per ACK but send a prebuilt packet reached only 0.78-0.87x (bench:tftp --floor). So the
 * relay keeps everything that decides (the request, names and roots, options, limits, events,
 * metrics) in Node (relay/src/tftp/server.ts) and hands the pumping of blocks to this program:
 * per transfer a thread with a socket connected to the client, blocked in recv, answering each ACK
 * with one sendmsg whose payload points into memory (no copy, no read per block).
 *
 * The state machine is relay/src/tftp/transfer.ts's, written again in C; the TFTP tests run against
 * both data paths. Rules: retransmit only on timeout (never answer a duplicate ACK: the Sorcerer's
 * Apprentice bug), RFC 7440 windows with partial ACKs, 16-bit block numbers rolling over to 0, an
 * ERROR answering the OACK is a size probe, not a failure.
 *
 * Protocol, on stdin: one ASCII header line, then as many raw bytes as the header announces.
 *   blob <blob> <len>\n<len bytes>       keep bytes the relay serves from memory (the iPXE binaries)
 *   drop <blob>\n                        forget them (transfers under way keep their reference)
 *   send <id> <local> <port> <client> <cport> <blksize> <window> <timeout_ms> <retries> <size>
 *        <src> <oacklen> <extralen>\n<oack packet><extra>
 *        src: blob:<n> | fd:<n> (the relay's open descriptor n, re-opened through /proc/<relay>/fd,
 *        so the file served is the one the relay checked) | inline (extra is the content)
 *   stop <id>\n                          end a transfer now (the relay is closing)
 * On stdout, one line per fact:
 *   ready\n                              once, at start
 *   start <id>\n                         the first DATA left
 *   end <id> <outcome> <acked> <bytes> <duplicate> <stale> <unexpected> <malformed>\n
 *        outcome: done | size-probe | client-error | timeout | client-gone | socket | internal | stopped
 * A bad command line is reported on stderr and the pump exits (status 2): the relay wrote it, so it
 * is a bug, and the relay falls back to its own data path.
 *
 * The socket binds <local>:<port> with SO_REUSEADDR beside the relay's own unconnected socket on that
 * port; Linux delivers the client's packets to this connected one and every other sender's to the
 * relay's, which answers them ERROR 5 (RFC 1350 section 4).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RUN_BYTES (64 * 1024)
#define MAX_BLKSIZE 65464
#define MAX_LINE 512

enum { OP_RRQ = 1, OP_WRQ, OP_DATA, OP_ACK, OP_ERROR, OP_OACK };

/* Bytes held in memory, shared by the transfers that serve them. */
struct blob {
  uint64_t id;
  uint8_t *bytes;
  size_t len;
  atomic_int refs;
  struct blob *next;
};

struct transfer {
  uint64_t id;
  struct sockaddr_in local, client;
  uint32_t blksize, window, timeout_ms, retries;
  uint64_t size;
  /* Exactly one source of bytes: a blob, a file, or inline bytes. */
  struct blob *blob;
  int fd;
  uint8_t *inline_bytes;
  uint8_t *oack;
  size_t oack_len;
  int sock;
  atomic_int stopped;
  struct transfer *next;
  /* Counters reported at the end. */
  uint64_t acked, bytes_sent, duplicate, stale, unexpected, malformed;
  /* The file's run of bytes read ahead. */
  uint8_t *run;
  uint64_t run_at, run_len;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static struct blob *blobs;
static struct transfer *transfers;
static pid_t relay_pid;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  pthread_mutex_lock(&out_lock);
  /* One write per line: the relay reads lines, and a line under PIPE_BUF is never split. */
  for (ssize_t done = 0; done < n;) {
    ssize_t w = write(1, line + done, (size_t)(n - done));
    if (w < 0) {
      if (errno == EINTR) continue;
      break; /* the relay is gone; its SIGPIPE-free end is our exit on stdin EOF */
    }
    done += w;
  }
  pthread_mutex_unlock(&out_lock);
}

static void die(const char *why) {
  fprintf(stderr, "edgeboot-tftp-pump: %s\n", why);
  exit(2);
}

static void blob_put(struct blob *b) {
  if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
    free(b->bytes);
    free(b);
  }
}

static void transfer_free(struct transfer *t) {
  pthread_mutex_lock(&lock);
  for (struct transfer **p = &transfers; *p; p = &(*p)->next)
    if (*p == t) {
      *p = t->next;
      break;
    }
  pthread_mutex_unlock(&lock);
  blob_put(t->blob);
  if (t->fd >= 0) close(t->fd);
  if (t->sock >= 0) close(t->sock);
  free(t->inline_bytes);
  free(t->oack);
  free(t->run);
  free(t);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_timeout(int sock, int64_t ms) {
  if (ms < 1) ms = 1;
  struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* A pointer to `len` bytes of content at `offset`, or NULL when the file no longer has them. */
static const uint8_t *content_at(struct transfer *t, uint64_t offset, size_t len) {
  if (t->blob) return t->blob->bytes + offset;
  if (t->inline_bytes) return t->inline_bytes + offset;
  if (offset >= t->run_at && offset + len <= t->run_at + t->run_len) return t->run + (offset - t->run_at);
  /* A run of whole blocks from this one on, so a window's blocks come from one read. */
  uint64_t want = t->size - offset;
  uint64_t cap = (RUN_BYTES / t->blksize) * t->blksize;
  if (cap < t->blksize) cap = t->blksize;
  if (want > cap) want = cap;
  uint64_t got = 0;
  while (got < want) {
    ssize_t n = pread(t->fd, t->run + got, want - got, (off_t)(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return NULL; /* the file shrank under the transfer (or failed): abort it */
    got += (uint64_t)n;
  }
  t->run_at = offset;
  t->run_len = got;
  return t->run;
}

static int send_error(struct transfer *t, uint16_t code, const char *msg) {
  uint8_t pkt[64];
  size_t m = strlen(msg);
  pkt[0] = 0;
  pkt[1] = OP_ERROR;
  pkt[2] = code >> 8;
  pkt[3] = code & 0xff;
  memcpy(pkt + 4, msg, m + 1);
  return send(t->sock, pkt, 4 + m + 1, 0) < 0 ? -1 : 0;
}

/* DATA of block `b` (1-based, unbounded; its wire number is the low 16 bits). */
static int send_block(struct transfer *t, uint64_t b) {
  uint64_t offset = (b - 1) * t->blksize;
  size_t len = t->size - offset < t->blksize ? (size_t)(t->size - offset) : t->blksize;
  uint8_t hdr[4] = { 0, OP_DATA, (uint8_t)(b >> 8), (uint8_t)b };
  const uint8_t *payload = len ? content_at(t, offset, len) : hdr;
  if (!payload) return -2;
  struct iovec iov[2] = { { hdr, 4 }, { (void *)payload, len } };
  struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
  for (;;) {
    if (sendmsg(t->sock, &mh, 0) >= 0) break;
    if (errno == EINTR) continue;
    /* A full send buffer is a lost packet to TFTP: the timeout resends it. */
    if (errno == EAGAIN || errno == ENOBUFS) break;
    return -1;
  }
  t->bytes_sent += len;
  return 0;
}

struct machine {
  uint64_t total, base, sent;
  uint32_t tries;
  int oack_pending;
  int started;
};

/* Sends the window from block `from`; returns 0, or an outcome's name when it cannot. */
static const char *send_window(struct transfer *t, struct machine *m, uint64_t from) {
  uint64_t last = from + t->window - 1;
  if (last > m->total) last = m->total;
  for (uint64_t b = from; b <= last; b++) {
    int r = send_block(t, b);
    if (r == -2) return "internal";
    if (r < 0) return errno == ECONNREFUSED ? "client-gone" : "socket";
    if (!m->started) {
      m->started = 1;
      say("start %llu\n", (unsigned long long)t->id);
    }
  }
  if (last > m->sent) m->sent = last;
  return 0;
}

static const char *resend(struct transfer *t, struct machine *m) {
  if (m->oack_pending) return send(t->sock, t->oack, t->oack_len, 0) < 0 ? (errno == ECONNREFUSED ? "client-gone" : "socket") : 0;
  return send_window(t, m, m->base);
}

static const char *pump(struct transfer *t, struct machine *m) {
  int one = 1;
  t->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (t->sock < 0) return "socket";
  if (setsockopt(t->sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return "socket";
  if (bind(t->sock, (struct sockaddr *)&t->local, sizeof t->local) < 0) return "socket";
  if (connect(t->sock, (struct sockaddr *)&t->client, sizeof t->client) < 0) return "socket";
  set_timeout(t->sock, t->timeout_ms);
  int64_t deadline = now_ms() + t->timeout_ms;
  int shortened = 0;
  const char *r = resend(t, m);
  if (r) return r;
  uint8_t buf[2048];
  for (;;) {
    ssize_t n = recv(t->sock, buf, sizeof buf, MSG_TRUNC);
    if (atomic_load(&t->stopped)) return "stopped";
    int progressed = 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) return "client-gone";
      if (errno != EAGAIN && errno != EWOULDBLOCK) return "socket";
      int64_t left = deadline - now_ms();
      if (left > 1) {
        /* Woken before the deadline (the wait was rounded): wait out the rest. */
        set_timeout(t->sock, left);
        shortened = 1;
        continue;
      }
      if (++m->tries > t->retries) {
        send_error(t, 0, "Timeout");
        return "timeout";
      }
      if ((r = resend(t, m))) return r;
      progressed = 1;
    } else if (n < 2 || (size_t)n > sizeof buf) {
      t->malformed++;
    } else {
      uint16_t op = (uint16_t)(buf[0] << 8 | buf[1]);
      if (op == OP_ACK) {
        if (n != 4) {
          t->malformed++;
        } else {
          uint16_t wire = (uint16_t)(buf[2] << 8 | buf[3]);
          if (m->oack_pending) {
            if (wire != 0) t->stale++;
            else {
              m->oack_pending = 0;
              m->tries = 0;
              if ((r = send_window(t, m, 1))) return r;
              progressed = 1;
            }
          } else {
            uint64_t before = m->base - 1;
            uint64_t k = before + (uint16_t)(wire - (uint16_t)before);
            if (k == before) t->duplicate++;
            else if (k > m->sent) t->stale++;
            else {
              m->base = k + 1;
              m->tries = 0;
              if (k == m->total) return "done";
              if ((r = send_window(t, m, k + 1))) return r;
              progressed = 1;
            }
          }
        }
      } else if (op == OP_ERROR) {
        /* Well formed: a code, then a message ending in the packet's only NUL-terminated string. */
        if (n < 5 || buf[n - 1] != 0 || memchr(buf + 4, 0, (size_t)n - 4) != buf + n - 1) t->malformed++;
        else return m->oack_pending ? "size-probe" : "client-error";
      } else if (op == OP_DATA ? n >= 4 : (op >= OP_RRQ && op <= OP_OACK)) {
        t->unexpected++;
      } else {
        t->malformed++;
      }
    }
    if (progressed) {
      /* Something left: the client has a full timeout to answer it. */
      deadline = now_ms() + t->timeout_ms;
      if (shortened) {
        set_timeout(t->sock, t->timeout_ms);
        shortened = 0;
      }
    } else {
      /* Ignored packets must not keep the transfer alive: wait only what is left of the timeout. */
      int64_t left = deadline - now_ms();
      set_timeout(t->sock, left);
      shortened = 1;
    }
  }
}

static const char *run_transfer(struct transfer *t) {
  struct machine m = { .total = t->size / t->blksize + 1, .base = 1, .sent = 0, .tries = 0, .oack_pending = t->oack_len > 0 };
  const char *outcome = pump(t, &m);
  t->acked = m.base - 1;
  return outcome;
}

static void *transfer_thread(void *arg) {
  struct transfer *t = arg;
  const char *outcome = run_transfer(t);
  if (!strcmp(outcome, "internal")) send_error(t, 0, "Transfer failed");
  say("end %llu %s %llu %llu %llu %llu %llu %llu\n", (unsigned long long)t->id, outcome, (unsigned long long)t->acked, (unsigned long long)t->bytes_sent,
      (unsigned long long)t->duplicate, (unsigned long long)t->stale, (unsigned long long)t->unexpected, (unsigned long long)t->malformed);
  transfer_free(t);
  return NULL;
}

/* stdin, buffered: header lines and raw payloads. */
static uint8_t inbuf[1 << 16];
static size_t in_at, in_len;

static int fill(void) {
  if (in_at > 0 && in_at == in_len) in_at = in_len = 0;
  if (in_len == sizeof inbuf) {
    memmove(inbuf, inbuf + in_at, in_len - in_at);
    in_len -= in_at;
    in_at = 0;
  }
  for (;;) {
    ssize_t n = read(0, inbuf + in_len, sizeof inbuf - in_len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    in_len += (size_t)n;
    return 0;
  }
}

static int read_line(char *line) {
  for (;;) {
    uint8_t *nl = memchr(inbuf + in_at, '\n', in_len - in_at);
    if (nl) {
      size_t n = (size_t)(nl - (inbuf + in_at));
      if (n >= MAX_LINE) die("command line too long");
      memcpy(line, inbuf + in_at, n);
      line[n] = 0;
      in_at += n + 1;
      return 0;
    }
    if (in_len - in_at >= MAX_LINE) die("command line too long");
    if (in_at > 0) {
      memmove(inbuf, inbuf + in_at, in_len - in_at);
      in_len -= in_at;
      in_at = 0;
    }
    if (fill() < 0) return -1;
  }
}

static uint8_t *read_bytes(size_t len) {
  uint8_t *out = malloc(len ? len : 1);
  if (!out) die("out of memory");
  size_t got = 0;
  while (got < len) {
    if (in_at == in_len && fill() < 0) die("stdin ended inside a payload");
    size_t take = in_len - in_at < len - got ? in_len - in_at : len - got;
    memcpy(out + got, inbuf + in_at, take);
    in_at += take;
    got += take;
  }
  return out;
}

static uint64_t number(const char *s, uint64_t max) {
  char *end;
  if (!s || !*s) die("missing number");
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || errno || v > max) die("bad number");
  return v;
}

static struct sockaddr_in address(const char *ip, const char *port) {
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)number(port, 65535)) };
  if (!ip || inet_pton(AF_INET, ip, &a.sin_addr) != 1) die("bad address");
  return a;
}

static void command_send(char **f, int nf) {
  if (nf != 14) die("send takes 13 fields");
  struct transfer *t = calloc(1, sizeof *t);
  if (!t) die("out of memory");
  t->id = number(f[1], UINT64_MAX);
  t->local = address(f[2], f[3]);
  t->client = address(f[4], f[5]);
  t->blksize = (uint32_t)number(f[6], MAX_BLKSIZE);
  t->window = (uint32_t)number(f[7], 65535);
  t->timeout_ms = (uint32_t)number(f[8], 255000);
  t->retries = (uint32_t)number(f[9], 1000);
  t->size = number(f[10], UINT64_MAX / 2);
  t->oack_len = number(f[12], 65507);
  size_t extra = number(f[13], 64u << 20);
  if (t->blksize < 8 || t->window < 1) die("bad blksize or window");
  t->oack = t->oack_len ? read_bytes(t->oack_len) : NULL;
  uint8_t *extra_bytes = read_bytes(extra);
  t->fd = -1;
  t->sock = -1;
  const char *src = f[11];
  if (!strncmp(src, "blob:", 5)) {
    uint64_t id = number(src + 5, UINT64_MAX);
    pthread_mutex_lock(&lock);
    for (struct blob *b = blobs; b; b = b->next)
      if (b->id == id) {
        atomic_fetch_add(&b->refs, 1);
        t->blob = b;
      }
    pthread_mutex_unlock(&lock);
    if (!t->blob) die("unknown blob");
    if (t->blob->len < t->size) die("blob shorter than the transfer");
    free(extra_bytes);
  } else if (!strncmp(src, "fd:", 3)) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%llu", (int)relay_pid, (unsigned long long)number(src + 3, 1u << 30));
    free(extra_bytes);
    t->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    t->run = malloc(RUN_BYTES > t->blksize ? RUN_BYTES : t->blksize);
    if (!t->run) die("out of memory");
    if (t->fd < 0) {
      /* The relay closed it already (it stopped the transfer): report, do not die. */
      say("end %llu internal 0 0 0 0 0 0\n", (unsigned long long)t->id);
      transfer_free(t);
      return;
    }
  } else if (!strcmp(src, "inline")) {
    if (extra < t->size) die("inline content shorter than the transfer");
    t->inline_bytes = extra_bytes;
  } else {
    die("bad source");
  }
  pthread_mutex_lock(&lock);
  t->next = transfers;
  transfers = t;
  pthread_mutex_unlock(&lock);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  pthread_t th;
  if (pthread_create(&th, &attr, transfer_thread, t) != 0) {
    say("end %llu internal 0 0 0 0 0 0\n", (unsigned long long)t->id);
    transfer_free(t);
  }
  pthread_attr_destroy(&attr);
}

static void command_stop(uint64_t id) {
  pthread_mutex_lock(&lock);
  for (struct transfer *t = transfers; t; t = t->next)
    if (t->id == id) {
      atomic_store(&t->stopped, 1);
      /* Wakes its recv at once. */
      if (t->sock >= 0) shutdown(t->sock, SHUT_RDWR);
    }
  pthread_mutex_unlock(&lock);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  relay_pid = getppid();
  say("ready\n");
  char line[MAX_LINE];
  while (read_line(line) == 0) {
    char *f[16];
    int nf = 0;
    for (char *save, *tok = strtok_r(line, " ", &save); tok && nf < 16; tok = strtok_r(NULL, " ", &save)) f[nf++] = tok;
    if (nf == 0) die("empty command");
    if (!strcmp(f[0], "send")) {
      command_send(f, nf);
    } else if (!strcmp(f[0], "blob") && nf == 3) {
      struct blob *b = calloc(1, sizeof *b);
      if (!b) die("out of memory");
      b->id = number(f[1], UINT64_MAX);
      b->len = number(f[2], 1u << 30);
      b->bytes = read_bytes(b->len);
      atomic_init(&b->refs, 1);
      pthread_mutex_lock(&lock);
      b->next = blobs;
      blobs = b;
      pthread_mutex_unlock(&lock);
    } else if (!strcmp(f[0], "drop") && nf == 2) {
      uint64_t id = number(f[1], UINT64_MAX);
      pthread_mutex_lock(&lock);
      for (struct blob **p = &blobs; *p; p = &(*p)->next)
        if ((*p)->id == id) {
          struct blob *b = *p;
          *p = b->next;
          blob_put(b);
          break;
        }
      pthread_mutex_unlock(&lock);
    } else if (!strcmp(f[0], "stop") && nf == 2) {
      command_stop(number(f[1], UINT64_MAX));
    } else {
      die("unknown command");
    }
  }
  /* stdin closed: the relay is gone or closing. Transfers under way end with the process. */
  return 0;
}
