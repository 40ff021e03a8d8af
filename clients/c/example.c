/*
 * The example program of the C client library (mopps_client.h): proves the wire contract needs
 * nothing from Swift or Python.
 *
 *   mopps-c-client ENDPOINT POOL
 *
 * Creates POOL (seed 7) unless it exists, selects 8 of 64 candidates (ids 1000..1063), reports
 * (id mod 5) successes out of 4 rollouts for each chosen id, reads the posteriors back, and prints
 * one line per chosen id: "ID SAMPLE SUCCESSES ALPHA BETA". Select and Update carry request ids and
 * are each sent twice, as a client retrying after a lost reply would: the Select must come back
 * identical and the Update as a duplicate. Exits non-zero on any error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mopps_client.h"

#define BATCH 8
#define CANDIDATES 64
#define ROLLOUTS 4

static int die(const char *what, const mopps_error *err) {
  fprintf(stderr, "%s failed: %s: %s\n", what, mopps_code_name(err->code), err->message);
  return 3;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ENDPOINT POOL\n", argv[0]);
    return 64;
  }
  const char *pool = argv[2];
  mopps_error err;
  mopps_options options = mopps_options_default(argv[1]);
  mopps_client *c = mopps_client_new(&options, &err);
  if (c == NULL) return die("connect", &err);

  /* ALREADY_EXISTS is fine: run twice against one server. */
  mopps_pool_config config = mopps_pool_config_default();
  config.has_seed = 1;
  config.seed = 7;
  if (mopps_create_pool(c, pool, &config, NULL, &err) != 0 && err.code != MOPPS_ALREADY_EXISTS)
    return die("CreatePool", &err);

  uint64_t candidates[CANDIDATES];
  for (int i = 0; i < CANDIDATES; i++) candidates[i] = 1000 + i;
  mopps_select_args args = mopps_select_args_default(pool, BATCH);
  args.candidates = candidates;
  args.n_candidates = CANDIDATES;
  args.request_id = "c-client-select-1";
  mopps_selection chosen, retry;
  if (mopps_select(c, &args, &chosen, &err) != 0) return die("Select", &err);
  if (mopps_select(c, &args, &retry, &err) != 0) return die("Select", &err);
  if (chosen.n != BATCH || retry.n != BATCH || memcmp(chosen.ids, retry.ids, sizeof(uint64_t) * BATCH) != 0 ||
      memcmp(chosen.samples, retry.samples, sizeof(float) * BATCH) != 0) {
    fprintf(stderr, "Select: a retry with the same request_id got another batch\n");
    return 5;
  }
  mopps_selection_free(&retry);

  double successes[BATCH];
  for (int i = 0; i < BATCH; i++) successes[i] = (double)(chosen.ids[i] % 5); /* 0..4 <= ROLLOUTS */
  int duplicate = 0;
  if (mopps_update(c, pool, chosen.ids, successes, NULL, BATCH, ROLLOUTS, "c-client-update-1", NULL, &duplicate,
                   &err) != 0 ||
      mopps_update(c, pool, chosen.ids, successes, NULL, BATCH, ROLLOUTS, "c-client-update-1", NULL, &duplicate,
                   &err) != 0)
    return die("Update", &err);
  if (!duplicate) {
    fprintf(stderr, "Update: a retry with the same request_id was applied again\n");
    return 5;
  }

  mopps_posteriors posteriors;
  if (mopps_get(c, pool, chosen.ids, BATCH, &posteriors, &err) != 0) return die("Get", &err);
  if (posteriors.n != BATCH) {
    fprintf(stderr, "Get: unexpected reply\n");
    return 4;
  }
  for (int i = 0; i < BATCH; i++) {
    printf("%" PRIu64 " %.6f %.1f %.6f %.6f\n", chosen.ids[i], chosen.samples[i], successes[i], posteriors.alpha[i],
           posteriors.beta[i]);
  }
  fflush(stdout);
  mopps_posteriors_free(&posteriors);
  mopps_selection_free(&chosen);
  mopps_client_free(c);
  return 0;
}
