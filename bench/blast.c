// A bounded UDP drop generator for the benchmarks: sends small datagrams with
// sendmmsg() to one address and port for a fixed time, pinned to one CPU, and
// prints how many it sent as JSON. Run it in a network namespace of your own;
// the destination is meant to be a closed port there. --rate paces it to N
// datagrams a second (batches sent on a schedule; without it, as fast as it can).
//
//   blast --dst 198.18.7.2 --port 9 --seconds 8 --cpu 0 [--rate 300000]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_SECONDS 60.0 /* hard cap, whatever is asked */
#define MAX_RATE 10e6    /* datagrams/s: above what a veth pair takes anyway */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void) {
  fprintf(stderr, "usage: blast --dst ADDR --port N [--seconds S (<= 60)] [--cpu N] [--payload BYTES] [--rate N (<= 1e7/s)]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *dst = NULL;
  int port = 0, cpu = -1, payload = 16;
  double seconds = 8, rate = 0; /* 0: unpaced */
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--dst")) dst = argv[i + 1];
    else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--cpu")) cpu = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--payload")) payload = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
    else usage();
  }
  if (!dst || port < 1 || port > 65535 || seconds <= 0 || payload < 0 || payload > 1400 || rate < 0 || rate > MAX_RATE) usage();
  if (seconds > MAX_SECONDS) seconds = MAX_SECONDS;

  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set)) perror("sched_setaffinity");
  }

  struct sockaddr_storage to = {0};
  socklen_t to_len;
  int family;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&to;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&to;
  if (inet_pton(AF_INET, dst, &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    to_len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, dst, &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    to_len = sizeof(*v6);
  } else {
    usage();
  }
  /* Connected, so the route is looked up once. The receiver's port-unreachable
   * replies (rate-limited by the kernel) then fail the odd send with ECONNREFUSED. */
  int fd = socket(family, SOCK_DGRAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&to, to_len)) {
    perror("socket/connect");
    return 1;
  }

  char data[1400] = "dropwhy-bench";
  struct iovec iov = {.iov_base = data, .iov_len = (size_t)payload};
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof(msgs));
  for (int i = 0; i < BATCH; i++) {
    msgs[i].msg_hdr.msg_iov = &iov;
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  unsigned long long sent = 0, errors = 0;
  double start = now(), end = start + seconds, t = start;
  while (t < end) {
    int n = sendmmsg(fd, msgs, BATCH, 0);
    if (n > 0) sent += n;
    else if (errno != EINTR && errno != ECONNREFUSED && errno != ENOBUFS && errno != EAGAIN) {
      perror("sendmmsg");
      return 1;
    } else errors++;
    if (rate > 0) {
      /* The next batch is due when the datagrams sent so far fit the rate:
       * absolute deadlines, so a late wake-up is made up for, not accumulated. */
      double due = start + sent / rate;
      struct timespec ts = {.tv_sec = (time_t)due, .tv_nsec = (long)((due - (time_t)due) * 1e9)};
      if (due < end) clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    t = now();
  }
  printf("{\"sent\": %llu, \"errors\": %llu, \"seconds\": %.6f}\n", sent, errors, t - start);
  return 0;
}
