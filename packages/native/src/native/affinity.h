// CPU affinity of the whole process (Linux). A training worker pins itself to one core so that its
// ring thread shares that core with its own compute thread rather than preempting the other
// worker's: both ranks then finish the backward pass at nearly the same time.
#pragma once
#include <cstddef>

namespace mtl {

// Sets the affinity mask of every thread of this process to `cpus` (threads started later inherit
// their creator's mask). Returns 0, or the errno of the first thread that could not be set
// (threads that exit meanwhile are skipped); ENOSYS where the OS has no such call.
int set_process_affinity(const int* cpus, size_t n);

}  // namespace mtl
