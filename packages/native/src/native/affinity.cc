#include "affinity.h"

#include <cerrno>

#ifdef __linux__
#include <dirent.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#endif

namespace mtl {

int set_process_affinity(const int* cpus, size_t n) {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  for (size_t i = 0; i < n; ++i) {
    if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return EINVAL;
    CPU_SET(cpus[i], &set);
  }
  // sched_setaffinity acts on one thread; /proc/self/task lists them all (V8's platform threads,
  // libuv's pool, ring threads already running).
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return errno;
  int rc = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const pid_t tid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
    if (sched_setaffinity(tid, sizeof set, &set) != 0 && errno != ESRCH && rc == 0) rc = errno;
  }
  closedir(dir);
  return rc;
#else
  (void)cpus;
  (void)n;
  return ENOSYS;
#endif
}

}  // namespace mtl
