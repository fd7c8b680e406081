#!/usr/bin/env python3
"""Per-op timings of ggml-cpu's graph computations, for profiling a training step (docs/benchmarks.md §4a).

Adds a clock read around each node of ggml_graph_compute_thread to a copy of ggml-cpu.c (never the native cache's
own source): per op, the time each thread spent computing its nodes and waiting at the barrier after them, and per
MUL_MAT shape (src0 type and ne00 x ne01, src1 ne11, batch ne02); with LORA4J_OP_TIMER set, printed to stderr at exit.

    s=$(mktemp -d) && cp -r "$(sed -n 's/^patched_source=//p' native/target/native.properties)" $s/src
    python3 tests/bench/op_timer.py $s/src/ggml/src/ggml-cpu/ggml-cpu.c
    cmake -S $s/src -B $s/build $(cmake -DLORA4J_BACKEND=cpu -P cmake/Lora4jLlamaBuild.cmake | grep '^-D')
    cmake --build $s/build --target ggml-cpu
    d=$(mktemp -d) && cp -L native/target/stage/dev/lora4j/native/*/* $d/ && cp -L $s/build/bin/libggml-cpu.so.0 $d/
    LORA4J_OP_TIMER=1 LORA4J_JAVA_OPTS="-Dlora4j.native.dir=$d" ./lora4j train ... 2> ops.txt

Three clock reads a node: the timed step runs somewhat slower than an untimed one; compare timed runs only.
"""
import sys

MAX_THREADS = 8

HELPERS = r'''
// lora4j op timer (tests/bench/op_timer.py): not part of any build
#include <time.h>
#define OPT_MAX_OP 200
#define OPT_SHAPES 128
static double opt_comp[OPT_MAX_OP + 1][%(T)d], opt_wait[OPT_MAX_OP + 1][%(T)d];
static long opt_count[OPT_MAX_OP + 1];
static long long opt_key[OPT_SHAPES];
static double opt_scomp[OPT_SHAPES][%(T)d], opt_swait[OPT_SHAPES][%(T)d];
static long opt_scount[OPT_SHAPES];
static int opt_on = -1, opt_nth;
static double opt_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec*1e6 + t.tv_nsec*1e-3; }
static void opt_row(const char * what, const double * c, const double * w, long n) {
    fprintf(stderr, "OPTIMER %%-56s %%8ld", what, n);
    for (int t = 0; t < opt_nth; t++) fprintf(stderr, " %%10.0f", c[t]);
    for (int t = 0; t < opt_nth; t++) fprintf(stderr, " %%10.0f", w[t]);
    fprintf(stderr, "\n");
}
static void opt_dump(void) {
    fprintf(stderr, "OPTIMER op or MUL_MAT shape, nodes, then per thread: us computing, us waiting at the barrier after\n");
    for (int i = 0; i <= OPT_MAX_OP; i++) {
        if (opt_count[i]) {
            opt_row(i < GGML_OP_COUNT ? ggml_op_name((enum ggml_op) i) : ggml_unary_op_name((enum ggml_unary_op) (i - GGML_OP_COUNT)), opt_comp[i], opt_wait[i], opt_count[i]);
        }
    }
    for (int i = 0; i < OPT_SHAPES; i++) {
        if (opt_scount[i]) {
            const long long k = opt_key[i];
            char what[96];
            snprintf(what, sizeof(what), "MUL_MAT %%s x %%s %%lld x %%lld, %%lld columns, batch %%lld", ggml_type_name((enum ggml_type) ((k >> 56) & 0x3f)),
                     ggml_type_name((enum ggml_type) ((k >> 50) & 0x3f)), (k >> 36) & 0x3fff, (k >> 22) & 0x3fff, (k >> 8) & 0x3fff, k & 0xff);
            opt_row(what, opt_scomp[i], opt_swait[i], opt_scount[i]);
        }
    }
}
static int opt_slot(const struct ggml_tensor * n) {
    const long long k = ((long long) n->src[0]->type << 56) | ((long long) n->src[1]->type << 50) | ((long long) (n->src[0]->ne[0] & 0x3fff) << 36) |
                        ((long long) (n->src[0]->ne[1] & 0x3fff) << 22) | ((long long) (n->src[1]->ne[1] & 0x3fff) << 8) | (n->src[0]->ne[2] & 0xff);
    for (int j = 0; j < OPT_SHAPES; j++) {
        const int i = (int) ((unsigned long long) (k ^ (k >> 17) ^ (k >> 40)) %% OPT_SHAPES + j) %% OPT_SHAPES;
        if (opt_key[i] == k || opt_scount[i] == 0) { opt_key[i] = k; return i; }
    }
    return 0;
}
'''

THREAD_FN = 'static thread_ret_t ggml_graph_compute_thread(void * data) {'
BEFORE = '        const int n_fused = ggml_cpu_try_fuse_ops(cgraph, node_n, &params, cplan);'
BARRIER = '''        if (node_n + 1 < cgraph->n_nodes && !(cplan->abort_callback == NULL && ggml_cpu_opt_steps_in_a_row(cgraph, node_n))) {
            ggml_barrier(state->threadpool);
        }'''


def main():
    path = sys.argv[1]
    s = open(path).read()
    for anchor in (THREAD_FN, BEFORE, BARRIER):
        if s.count(anchor) != 1:
            sys.exit(f"{path}: expected one occurrence of:\n{anchor}")
    if 'lora4j op timer' in s:
        sys.exit(f"{path} already has the timer")
    s = s.replace(THREAD_FN, HELPERS % {'T': MAX_THREADS} + THREAD_FN, 1)
    s = s.replace(BEFORE, '''        if (opt_on < 0) { opt_on = getenv("LORA4J_OP_TIMER") != NULL; if (opt_on) atexit(opt_dump); }
        const int opt_op = node->op == GGML_OP_UNARY ? GGML_OP_COUNT + (int) ggml_get_unary_op(node) : (int) node->op;
        const bool opt_time = opt_on > 0 && params.ith < %d && opt_op <= OPT_MAX_OP;
        const double opt_t0 = opt_time ? opt_us() : 0;
''' % MAX_THREADS + BEFORE, 1)
    s = s.replace(BARRIER, '''        const double opt_t1 = opt_time ? opt_us() : 0;
''' + BARRIER + '''
        if (opt_time) {
            const double opt_t2 = opt_us();
            opt_comp[opt_op][params.ith] += opt_t1 - opt_t0;
            opt_wait[opt_op][params.ith] += opt_t2 - opt_t1;
            if (params.ith == 0) { opt_count[opt_op]++; opt_nth = MAX(opt_nth, params.nth); }
            if (node->op == GGML_OP_MUL_MAT) {
                const int i = opt_slot(node); // a race between threads may split a shape's row in two
                opt_scomp[i][params.ith] += opt_t1 - opt_t0;
                opt_swait[i][params.ith] += opt_t2 - opt_t1;
                if (params.ith == 0) opt_scount[i]++;
            }
        }''', 1)
    open(path, 'w').write(s)


if __name__ == '__main__':
    main()
