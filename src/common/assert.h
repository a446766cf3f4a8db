// Invariant checks. Never assert on network or user input: return a Status instead.
#pragma once

#include <cstdio>
#include <cstdlib>

// Checked in every build: for invariants whose violation would corrupt data.
#define SLUICE_RELEASE_ASSERT(cond, msg)                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: assertion failed: %s: %s\n", __FILE__, __LINE__, #cond, \
                   msg);                                                              \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

#ifndef NDEBUG
#define SLUICE_ASSERT(cond, msg) SLUICE_RELEASE_ASSERT(cond, msg)
#else
#define SLUICE_ASSERT(cond, msg) \
  do {                           \
  } while (0)
#endif
