/*
 * fuzz_check — what every harness shares.
 *
 * FUZZ_CHECK(cond): an invariant of the code under test. In a fuzzer build it prints and
 * aborts, which libFuzzer records as a crash with the input saved; the regression unit test
 * (tests/unit/test_fuzz_regressions.c) defines it as a Criterion assertion before including
 * the harnesses, so a saved input fails `make test` with the same message.
 *
 * FUZZ_ENTRY: the harness's entry point, LLVMFuzzerTestOneInput unless the includer renamed it
 * (the regression test includes every harness into one binary). Names private to a harness
 * carry its prefix for the same reason.
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_CHECK
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#endif

#endif
