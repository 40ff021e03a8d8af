/*
 * mopps-conformance in C: the request sequence of clients/python/mopps/conformance.py, printing
 * the same bytes (see clients/README.md).
 *
 *   mopps-conformance --endpoint E --pool P --seed S --prompts K --batch B --steps N
 *   mopps-conformance --format-float32 < values      (one value per line: the float rule alone)
 *
 * Optional: --timeout-ms T, --server-key K (CURVE), --bench-select R (see conformance.py).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mopps_client.h"

static int usage(const char *argv0) {
  fprintf(stderr, "usage: %s --endpoint E --pool P --seed S --prompts K --batch B --steps N\n", argv0);
  return 64;
}

static int die(const mopps_error *err) {
  fprintf(stderr, "mopps-conformance: %s: %s\n", mopps_code_name(err->code), err->message);
  return 1;
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* R timed Selects of `batch` from `prompts` client-given candidates; prints the median round trip. */
static int bench_select(mopps_client *c, const char *pool, uint64_t seed, uint64_t prompts, uint32_t batch,
                        int reps) {
  mopps_error err;
  mopps_pool_config config = mopps_pool_config_default();
  config.has_seed = 1;
  config.seed = seed;
  if (mopps_create_pool(c, pool, &config, NULL, &err) != 0) return die(&err);
  uint64_t *ids = malloc(sizeof(uint64_t) * (prompts + 1));
  for (uint64_t i = 0; i < prompts; i++) ids[i] = i;
  int warm = reps / 10 > 1 ? reps / 10 : 1;
  uint64_t *times = malloc(sizeof(uint64_t) * (size_t)(reps + warm));
  mopps_select_args args = mopps_select_args_default(pool, batch);
  args.candidates = ids;
  args.n_candidates = prompts;
  for (int i = 0; i < reps + warm; i++) {
    mopps_selection s;
    uint64_t start = now_ns();
    if (mopps_select(c, &args, &s, &err) != 0) return die(&err);
    times[i] = now_ns() - start;
    mopps_selection_free(&s);
  }
  qsort(times + warm, (size_t)reps, sizeof *times, compare_u64);
  printf("select p50 us: %.1f\n", (double)times[warm + reps / 2] / 1000.0);
  free(ids);
  free(times);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--format-float32") == 0) {
    char line[128], out[64];
    while (fgets(line, sizeof line, stdin) != NULL) {
      mopps_format_float32(strtof(line, NULL), out, sizeof out);
      puts(out);
    }
    return 0;
  }
  const char *endpoint = NULL, *pool = NULL;
  uint64_t seed = 0, prompts = 0, batch = 0, steps = 0;
  int seen = 0, timeout_ms = 5000, bench = 0;
  const char *server_key = NULL;
  if (argc % 2 == 0) return usage(argv[0]);
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *flag = argv[i], *value = argv[i + 1];
    if (strcmp(flag, "--endpoint") == 0) endpoint = value, seen |= 1;
    else if (strcmp(flag, "--pool") == 0) pool = value, seen |= 2;
    else if (strcmp(flag, "--seed") == 0) seed = strtoull(value, NULL, 10), seen |= 4;
    else if (strcmp(flag, "--prompts") == 0) prompts = strtoull(value, NULL, 10), seen |= 8;
    else if (strcmp(flag, "--batch") == 0) batch = strtoull(value, NULL, 10), seen |= 16;
    else if (strcmp(flag, "--steps") == 0) steps = strtoull(value, NULL, 10), seen |= 32;
    else if (strcmp(flag, "--timeout-ms") == 0) timeout_ms = atoi(value);
    else if (strcmp(flag, "--server-key") == 0) server_key = value;
    else if (strcmp(flag, "--bench-select") == 0) bench = atoi(value);
    else return usage(argv[0]);
  }
  if (seen != 63) return usage(argv[0]);

  mopps_error err;
  mopps_options options = mopps_options_default(endpoint);
  options.timeout_ms = timeout_ms;
  options.server_key = server_key;
  mopps_client *c = mopps_client_new(&options, &err);
  if (c == NULL) return die(&err);
  if (bench > 0) {
    int rc = bench_select(c, pool, seed, prompts, (uint32_t)batch, bench);
    mopps_client_free(c);
    return rc;
  }
  mopps_pool_config config = mopps_pool_config_default();
  config.prior_alpha = 1;
  config.prior_beta = 1;
  config.decay = 0.5;
  config.strategy = MOPPS__V1__STRATEGY__STRATEGY_TOPK;
  config.has_seed = 1;
  config.seed = seed;
  if (mopps_create_pool(c, pool, &config, NULL, &err) != 0) return die(&err);
  uint64_t *ids = malloc(sizeof(uint64_t) * (prompts + 1));
  for (uint64_t i = 0; i < prompts; i++) ids[i] = i;
  if (mopps_register(c, pool, ids, prompts, NULL, NULL, NULL, &err) != 0) return die(&err);

  double *successes = malloc(sizeof(double) * (batch + 1));
  uint32_t *trials = malloc(sizeof(uint32_t) * (batch + 1));
  for (uint64_t t = 0; t < steps; t++) {
    mopps_select_args args = mopps_select_args_default(pool, (uint32_t)batch);
    args.candidate_count = (uint32_t)(8 * batch);
    mopps_selection chosen;
    if (mopps_select(c, &args, &chosen, &err) != 0) return die(&err);
    printf("step %" PRIu64 ":", t);
    for (size_t i = 0; i < chosen.n; i++) {
      printf(" %" PRIu64, chosen.ids[i]);
      successes[i] = (double)((7 * chosen.ids[i] + t) % 9);
      trials[i] = 8;
    }
    printf("\n");
    if (mopps_update(c, pool, chosen.ids, successes, trials, chosen.n, 0, NULL, NULL, NULL, &err) != 0) return die(&err);
    mopps_selection_free(&chosen);
  }

  mopps_posteriors posteriors;
  size_t shown = prompts < 5 ? (size_t)prompts : 5;
  if (mopps_get(c, pool, ids, shown, &posteriors, &err) != 0) return die(&err);
  for (size_t i = 0; i < posteriors.n; i++) {
    char a[64], b[64];
    mopps_format_float32((float)posteriors.alpha[i], a, sizeof a);
    mopps_format_float32((float)posteriors.beta[i], b, sizeof b);
    printf("posterior %" PRIu64 ": %s %s\n", posteriors.ids[i], a, b);
  }
  mopps_posteriors_free(&posteriors);

  mopps_select_args zero = mopps_select_args_default(pool, 0);
  zero.candidate_count = 8;
  mopps_selection none;
  int code = mopps_select(c, &zero, &none, &err);
  if (code == 0) mopps_selection_free(&none);
  printf("invalid batch_size 0: %s\n", mopps_code_name(code));
  uint64_t id0 = 0;
  double nine = 9;
  uint32_t eight = 8;
  code = mopps_update(c, pool, &id0, &nine, &eight, 1, 0, NULL, NULL, NULL, &err);
  printf("invalid successes 9 of 8: %s\n", mopps_code_name(code));
  char missing[160];
  snprintf(missing, sizeof missing, "%s-missing", pool);
  code = mopps_get(c, missing, &id0, 1, &posteriors, &err);
  if (code == 0) mopps_posteriors_free(&posteriors);
  printf("invalid unknown pool: %s\n", mopps_code_name(code));
  fflush(stdout);
  free(ids);
  free(successes);
  free(trials);
  mopps_client_free(c);
  return 0;
}
