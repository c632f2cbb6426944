// numa/topology.c: topology from /sys and raw system calls; fake topologies.
#include "numa/topology.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/once.h"
#include "platform/options.h"
#include "platform/os_vm.h"

// From <numaif.h>, spelled out so that nothing here needs libnuma's headers.
#define MPOL_DEFAULT_ 0
#define MPOL_PREFERRED_ 1
#define MPOL_BIND_ 2
#define MPOL_INTERLEAVE_ 3
#define MPOL_F_NODE_ (1 << 0)
#define MPOL_F_ADDR_ (1 << 1)
#define MPOL_MF_MOVE_ (1 << 1)

#define MASK_WORDS (XSMEM_NUMA_MAX_NODES / 64 + 1)
#define MAX_RECORDS 4096

typedef struct topology {
  xsmem_numa_kind kind;
  int num_nodes;
  int num_cpus;  // entries of cpu_node in use
  int16_t cpu_node[XSMEM_NUMA_MAX_CPUS];
  int node_cpus[XSMEM_NUMA_MAX_NODES];
  uint8_t distance[XSMEM_NUMA_MAX_NODES][XSMEM_NUMA_MAX_NODES];
} topology;

static topology g_system;  // real or fallback, read once
static topology g_fake;
static _Atomic(topology *) g_topo;
static xsmem_once g_read;             // the topology, read once
static _Atomic unsigned g_epoch = 1;  // bumped when the topology changes
static xsmem_numa_policy g_policy;
static xsmem_numa_bind_mode g_bind_mode;

static xsmem_spinlock g_records_lock;
static xsmem_numa_record g_records[MAX_RECORDS];
static size_t g_records_n;

#define TLS __thread __attribute__((tls_model("initial-exec")))
static TLS int t_node;
static TLS int t_countdown;  // calls left before the next look at the CPU
static TLS int t_pinned;     // 1: bound (or fake-placed); never refreshed
static TLS unsigned t_epoch;

// ---------------------------------------------------------------------------
// Reading /sys without allocating.

// Reads a small file into buf (NUL-terminated); returns false when absent.
static bool read_small_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t used = 0;
  while (used + 1 < cap) {
    ssize_t r = read(fd, buf + used, cap - 1 - used);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    used += (size_t)r;
  }
  close(fd);
  buf[used] = '\0';
  return used > 0;
}

static const char *parse_uint(const char *s, long *out) {
  long v = 0;
  bool any = false;
  while (*s >= '0' && *s <= '9') {
    v = v * 10 + (*s++ - '0');
    any = true;
    if (v > 1 << 24) v = 1 << 24;  // clamp absurd values
  }
  *out = any ? v : -1;
  return s;
}

// Calls visit(arg, i) for every i in a kernel list such as "0-3,8,10-11".
static void parse_list(const char *s, void (*visit)(void *, long), void *arg) {
  while (*s) {
    long lo, hi;
    s = parse_uint(s, &lo);
    if (lo < 0) break;
    hi = lo;
    if (*s == '-') s = parse_uint(s + 1, &hi);
    for (long i = lo; i <= hi && hi >= 0; i++) visit(arg, i);
    while (*s == ',' || *s == '\n' || *s == ' ') s++;
  }
}

typedef struct list_state {
  topology *t;
  int node;
  int online[XSMEM_NUMA_MAX_NODES];
  int n_online;
} list_state;

static void visit_node(void *arg, long n) {
  list_state *st = arg;
  if (n >= XSMEM_NUMA_MAX_NODES) return;
  st->online[st->n_online++] = (int)n;
  if (n + 1 > st->t->num_nodes) st->t->num_nodes = (int)n + 1;
}

static void visit_cpu(void *arg, long c) {
  list_state *st = arg;
  if (c >= XSMEM_NUMA_MAX_CPUS) return;
  st->t->cpu_node[c] = (int16_t)st->node;
  st->t->node_cpus[st->node]++;
  if (c + 1 > st->t->num_cpus) st->t->num_cpus = (int)c + 1;
}

static void set_single_node(topology *t, xsmem_numa_kind kind) {
  memset(t, 0, sizeof(*t));
  t->kind = kind;
  t->num_nodes = 1;
  long cpus = sysconf(_SC_NPROCESSORS_CONF);
  t->num_cpus = (int)XSMEM_MIN(XSMEM_MAX(cpus, 1), XSMEM_NUMA_MAX_CPUS);
  t->node_cpus[0] = t->num_cpus;
  t->distance[0][0] = 10;
}

static void read_system(topology *t) {
  int mode;
  bool kernel = syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, 0) == 0;
  set_single_node(t, kernel ? XSMEM_NUMA_KIND_REAL : XSMEM_NUMA_KIND_FALLBACK);
  if (!kernel) return;
  static list_state st;  // 300 bytes: keep it off small bootstrap stacks
  char buf[4096], path[96];
  if (!read_small_file("/sys/devices/system/node/online", buf, sizeof(buf))) return;
  memset(&st, 0, sizeof(st));
  topology scratch;
  memset(&scratch, 0, sizeof(scratch));
  scratch.kind = XSMEM_NUMA_KIND_REAL;
  st.t = &scratch;
  parse_list(buf, visit_node, &st);
  if (st.n_online == 0) return;
  for (int i = 0; i < st.n_online; i++) {
    st.node = st.online[i];
    xsmem_snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", st.node);
    if (read_small_file(path, buf, sizeof(buf))) parse_list(buf, visit_cpu, &st);
    xsmem_snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/distance", st.node);
    if (read_small_file(path, buf, sizeof(buf))) {
      const char *s = buf;
      for (int j = 0; j < st.n_online && *s; j++) {  // one figure per online node, in order
        long d;
        s = parse_uint(s, &d);
        if (d >= 0) scratch.distance[st.node][st.online[j]] = (uint8_t)XSMEM_MIN(d, 255);
        while (*s == ' ') s++;
      }
    }
  }
  if (scratch.num_cpus == 0) scratch.num_cpus = t->num_cpus;
  *t = scratch;
}

static void read_options(void) {
  static const char *const kPolicies[] = {"off", "local", "interleave"};
  static const char *const kModes[] = {"bind", "preferred"};
  g_policy = (xsmem_numa_policy)xsmem_option_choice("XSMEM_NUMA", kPolicies, 3);
  g_bind_mode = (xsmem_numa_bind_mode)xsmem_option_choice("XSMEM_NUMA_BIND", kModes, 2);
}

static void fill_fake(topology *t, int nodes) {
  memset(t, 0, sizeof(*t));
  t->kind = XSMEM_NUMA_KIND_FAKE;
  t->num_nodes = nodes;
  long cpus = sysconf(_SC_NPROCESSORS_CONF);
  t->num_cpus = (int)XSMEM_MIN(XSMEM_MAX(cpus, 64), XSMEM_NUMA_MAX_CPUS);  // every node gets CPUs
  for (int c = 0; c < t->num_cpus; c++) {
    t->cpu_node[c] = (int16_t)(c % nodes);
    t->node_cpus[c % nodes]++;
  }
  // A ring: neighbours at 20, farther nodes 10 more per hop (like a real box).
  for (int a = 0; a < nodes; a++) {
    for (int b = 0; b < nodes; b++) {
      int hop = a > b ? a - b : b - a;
      if (nodes - hop < hop) hop = nodes - hop;
      t->distance[a][b] = (uint8_t)(hop == 0 ? 10 : 10 + 10 * hop);
    }
  }
}

static bool read_topology(void *ctx) {
  (void)ctx;
  read_options();
  long fake = xsmem_option_int("XSMEM_NUMA_FAKE_NODES");
  topology *t = &g_system;
  if (fake > 0 && fake <= XSMEM_NUMA_MAX_NODES) {
    read_system(&g_system);
    fill_fake(&g_fake, (int)fake);
    t = &g_fake;
  } else {
    if (fake != 0) xsmem_log("XSMEM_NUMA_FAKE_NODES=%ld is out of range 1..%d; ignored", fake, XSMEM_NUMA_MAX_NODES);
    if (g_policy == XSMEM_NUMA_POLICY_OFF) {
      set_single_node(&g_system, XSMEM_NUMA_KIND_FALLBACK);
    } else {
      read_system(&g_system);
    }
  }
  atomic_store_explicit(&g_topo, t, memory_order_release);
  if (xsmem_option_bool("XSMEM_VERBOSE")) {
    char buf[160];
    xsmem_log("numa: %s", xsmem_numa_describe(buf, sizeof(buf)));
  }
  return true;
}

XSMEM_COLD static topology *init_slow(void) {
  xsmem_once_run(&g_read, read_topology, NULL);
  return atomic_load_explicit(&g_topo, memory_order_acquire);
}

XSMEM_INLINE topology *topo(void) {
  topology *t = atomic_load_explicit(&g_topo, memory_order_acquire);
  return XSMEM_LIKELY(t != NULL) ? t : init_slow();
}

// ---------------------------------------------------------------------------
// Queries.

bool xsmem_numa_available(void) { return topo()->kind != XSMEM_NUMA_KIND_FALLBACK; }

xsmem_numa_kind xsmem_numa_topology_kind(void) { return topo()->kind; }

int xsmem_numa_num_nodes(void) { return topo()->num_nodes; }

int xsmem_numa_node_of_cpu(int cpu) {
  topology *t = topo();
  return cpu >= 0 && cpu < t->num_cpus ? t->cpu_node[cpu] : 0;
}

int xsmem_numa_node_cpu_count(int node) {
  topology *t = topo();
  return node >= 0 && node < t->num_nodes ? t->node_cpus[node] : 0;
}

int xsmem_numa_distance(int a, int b) {
  topology *t = topo();
  if (a < 0 || b < 0 || a >= t->num_nodes || b >= t->num_nodes) return 0;
  return t->distance[a][b];
}

int xsmem_numa_nodes_by_distance(int node, int *out, int cap) {
  topology *t = topo();
  int n = 0;
  for (int i = 1; i < t->num_nodes && n < cap; i++) {  // start with the next node: spreads ties
    int b = (node + i) % t->num_nodes;
    int d = t->distance[node][b] ? t->distance[node][b] : 255;
    int j = n++;
    while (j > 0) {  // insertion sort, stable
      int prev = out[j - 1];
      int dp = t->distance[node][prev] ? t->distance[node][prev] : 255;
      if (dp <= d) break;
      out[j] = prev;
      j--;
    }
    out[j] = b;
  }
  return n;
}

xsmem_numa_policy xsmem_numa_policy_get(void) {
  return topo()->kind == XSMEM_NUMA_KIND_FALLBACK ? XSMEM_NUMA_POLICY_OFF : g_policy;  // g_policy: as asked
}

xsmem_numa_bind_mode xsmem_numa_bind_mode_get(void) {
  topo();
  return g_bind_mode;
}

int xsmem_numa_current_node_uncached(void) {
  topology *t = topo();
  if (t->kind == XSMEM_NUMA_KIND_FALLBACK || t->num_nodes == 1) return 0;
  int cpu = sched_getcpu();  // rseq or vDSO: no system call
  if (cpu < 0) {
    unsigned c = 0, node = 0;
    if (syscall(SYS_getcpu, &c, &node, NULL) != 0) return 0;
    cpu = (int)c;
  }
  return xsmem_numa_node_of_cpu(cpu);
}

XSMEM_COLD static int current_node_slow(void) {
  unsigned epoch = atomic_load_explicit(&g_epoch, memory_order_relaxed);
  if (t_epoch != epoch) {  // the topology changed: forget any placement
    t_epoch = epoch;
    t_pinned = 0;
  }
  if (t_pinned) {
    t_countdown = XSMEM_NUMA_REFRESH;
    return t_node;
  }
  t_node = xsmem_numa_current_node_uncached();
  t_countdown = XSMEM_NUMA_REFRESH;
  return t_node;
}

int xsmem_numa_current_node(void) {
  if (XSMEM_LIKELY(--t_countdown > 0)) return t_node;
  return current_node_slow();
}

int xsmem_numa_current_node_refresh(void) { return current_node_slow(); }

static void pin_thread(int node) {
  t_epoch = atomic_load_explicit(&g_epoch, memory_order_relaxed);
  t_node = node;
  t_pinned = 1;
  t_countdown = XSMEM_NUMA_REFRESH;
}

// ---------------------------------------------------------------------------
// Records (fake topology).

static int record(void *p, size_t len, int node, int mode) {
  xsmem_spin_lock(&g_records_lock);
  if (g_records_n == MAX_RECORDS) {  // keep the newest: drop the oldest half
    memmove(g_records, g_records + MAX_RECORDS / 2, sizeof(g_records) / 2);
    g_records_n = MAX_RECORDS / 2;
  }
  g_records[g_records_n++] = (xsmem_numa_record){(uintptr_t)p, len, node, mode};
  xsmem_spin_unlock(&g_records_lock);
  return XSMEM_NUMA_RECORDED;
}

static int recorded_node(uintptr_t a, int nodes) {
  int node = -1;
  xsmem_spin_lock(&g_records_lock);
  for (size_t i = g_records_n; i-- > 0;) {
    xsmem_numa_record *r = &g_records[i];
    if (a - r->addr < r->len) {
      node = r->node >= 0 ? r->node : (int)(((a - r->addr) / 4096) % (uintptr_t)nodes);
      break;
    }
  }
  xsmem_spin_unlock(&g_records_lock);
  return node;
}

int xsmem_numa_node_of_address(const void *p) {
  topology *t = topo();
  if (t->kind == XSMEM_NUMA_KIND_FAKE) return recorded_node((uintptr_t)p, t->num_nodes);
  void *page = (void *)((uintptr_t)p & ~(uintptr_t)(xsmem_os_page_size() - 1));
  int status = -1;
  if (syscall(SYS_move_pages, 0, 1UL, &page, NULL, &status, 0) == 0) return status >= 0 ? status : -1;
  int node = -1;
  if (syscall(SYS_get_mempolicy, &node, NULL, 0, page, MPOL_F_NODE_ | MPOL_F_ADDR_) == 0) return node;
  return t->kind == XSMEM_NUMA_KIND_FALLBACK ? 0 : -1;
}

// ---------------------------------------------------------------------------
// Binding.

static void mask_of(unsigned long *mask, int node, int nodes) {
  memset(mask, 0, MASK_WORDS * sizeof(unsigned long));
  for (int n = node < 0 ? 0 : node; n < (node < 0 ? nodes : node + 1); n++) mask[n / 64] |= 1UL << (n % 64);
}

static long mbind_raw(void *p, size_t len, int mode, const unsigned long *mask, unsigned flags) {
  return syscall(SYS_mbind, p, len, mode, mask, (unsigned long)(MASK_WORDS * 64 + 1), flags);
}

int xsmem_numa_bind_range(void *p, size_t len, int node, xsmem_numa_bind_mode mode) {
  topology *t = topo();
  if (node < 0 || node >= t->num_nodes) return -EINVAL;
  if (t->kind == XSMEM_NUMA_KIND_FALLBACK) return XSMEM_NUMA_NOOP;
  if (mode == XSMEM_NUMA_BIND_INTERLEAVE) return xsmem_numa_interleave_range(p, len);
  if (t->kind == XSMEM_NUMA_KIND_FAKE) return record(p, len, node, mode);
  unsigned long mask[MASK_WORDS];
  mask_of(mask, node, t->num_nodes);
  int kmode = mode == XSMEM_NUMA_BIND_PREFERRED ? MPOL_PREFERRED_ : MPOL_BIND_;
  return mbind_raw(p, len, kmode, mask, 0) == 0 ? 0 : -errno;
}

int xsmem_numa_interleave_range(void *p, size_t len) {
  topology *t = topo();
  if (t->kind == XSMEM_NUMA_KIND_FALLBACK) return XSMEM_NUMA_NOOP;
  if (t->kind == XSMEM_NUMA_KIND_FAKE) return record(p, len, -1, XSMEM_NUMA_BIND_INTERLEAVE);
  unsigned long mask[MASK_WORDS];
  mask_of(mask, -1, t->num_nodes);
  return mbind_raw(p, len, MPOL_INTERLEAVE_, mask, 0) == 0 ? 0 : -errno;
}

int xsmem_numa_move_range(void *p, size_t len, int node, size_t *on_node) {
  topology *t = topo();
  if (on_node) *on_node = 0;
  if (node < 0 || node >= t->num_nodes) return -EINVAL;
  if (t->kind == XSMEM_NUMA_KIND_FALLBACK) return XSMEM_NUMA_NOOP;
  size_t page = xsmem_os_page_size();
  uintptr_t start = (uintptr_t)p & ~(uintptr_t)(page - 1);
  size_t pages = ((uintptr_t)p + len - start + page - 1) / page;
  if (t->kind == XSMEM_NUMA_KIND_FAKE) {
    if (on_node) *on_node = pages;
    return record((void *)start, pages * page, node, XSMEM_NUMA_BIND_STRICT);
  }
  enum { kBatch = 64 };
  void *addrs[kBatch];
  int nodes[kBatch], status[kBatch];
  size_t there = 0;
  for (size_t i = 0; i < pages; i += kBatch) {
    size_t n = XSMEM_MIN((size_t)kBatch, pages - i);
    for (size_t j = 0; j < n; j++) {
      addrs[j] = (void *)(start + (i + j) * page);
      nodes[j] = node;
      status[j] = -1;
    }
    if (syscall(SYS_move_pages, 0, (unsigned long)n, addrs, nodes, status, MPOL_MF_MOVE_) < 0) return -errno;
    for (size_t j = 0; j < n; j++) there += status[j] == node;
  }
  if (on_node) *on_node = there;
  return 0;
}

int xsmem_numa_bind_thread(int node) {
  topology *t = topo();
  if (node < 0 || node >= t->num_nodes) return -EINVAL;
  if (t->kind == XSMEM_NUMA_KIND_FALLBACK) return XSMEM_NUMA_NOOP;
  if (t->kind == XSMEM_NUMA_KIND_FAKE) {
    pin_thread(node);
    return XSMEM_NUMA_RECORDED;
  }
  unsigned long cpus[XSMEM_NUMA_MAX_CPUS / 64];  // the kernel's cpumask, no CPU_ALLOC (it mallocs)
  memset(cpus, 0, sizeof(cpus));
  int any = 0;
  for (int c = 0; c < t->num_cpus; c++) {
    if (t->cpu_node[c] == node && t->node_cpus[node] > 0) {
      cpus[c / 64] |= 1UL << (c % 64);
      any = 1;
    }
  }
  if (any && syscall(SYS_sched_setaffinity, 0, sizeof(cpus), cpus) != 0) return -errno;
  unsigned long mask[MASK_WORDS];
  mask_of(mask, node, t->num_nodes);
  if (syscall(SYS_set_mempolicy, MPOL_PREFERRED_, mask, (unsigned long)(MASK_WORDS * 64 + 1)) != 0) return -errno;
  pin_thread(node);
  return 0;
}

const char *xsmem_numa_describe(char *buf, size_t cap) {
  static const char *const kKinds[] = {"fallback", "real", "fake"};
  static const char *const kPolicies[] = {"off", "local", "interleave"};
  static const char *const kModes[] = {"MPOL_BIND", "MPOL_PREFERRED", "MPOL_INTERLEAVE"};
  topology *t = topo();
  xsmem_snprintf(buf, cap, "%s topology: %d node%s, %d cpus, policy %s, regions bound with %s", kKinds[t->kind],
                 t->num_nodes, t->num_nodes == 1 ? "" : "s", t->num_cpus, kPolicies[xsmem_numa_policy_get()],
                 kModes[g_bind_mode]);
  return buf;
}

// ---------------------------------------------------------------------------
// Fake topologies.

bool xsmem_numa_fake_install(int nodes) {
  if (nodes < 1 || nodes > XSMEM_NUMA_MAX_NODES) return false;
  topo();
  fill_fake(&g_fake, nodes);
  xsmem_numa_fake_clear_records();
  atomic_store_explicit(&g_topo, &g_fake, memory_order_release);
  atomic_fetch_add_explicit(&g_epoch, 1, memory_order_relaxed);
  t_countdown = 0;
  return true;
}

void xsmem_numa_fake_remove(void) {
  topo();
  atomic_store_explicit(&g_topo, &g_system, memory_order_release);
  atomic_fetch_add_explicit(&g_epoch, 1, memory_order_relaxed);
  t_countdown = 0;
}

void xsmem_numa_fake_set_thread_node(int node) {
  topology *t = topo();
  if (t->kind != XSMEM_NUMA_KIND_FAKE) return;
  if (node < 0 || node >= t->num_nodes) {
    t_pinned = 0;
    t_countdown = 0;
    return;
  }
  pin_thread(node);
}

size_t xsmem_numa_fake_records(xsmem_numa_record *out, size_t cap) {
  xsmem_spin_lock(&g_records_lock);
  size_t n = g_records_n;
  memcpy(out, g_records, XSMEM_MIN(n, cap) * sizeof(*out));
  xsmem_spin_unlock(&g_records_lock);
  return n;
}

void xsmem_numa_fake_clear_records(void) {
  xsmem_spin_lock(&g_records_lock);
  g_records_n = 0;
  xsmem_spin_unlock(&g_records_lock);
}
