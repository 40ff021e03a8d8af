import MoPPSEngine
import MoPPSProtoC

/// Per-method request statistics, as the Stats reply carries them.
public struct MethodCounters: Sendable, Equatable {
  public var method: String
  public var count: UInt64
  public var errors: UInt64
  public var errorsByCode: [StatusCode: UInt64] = [:]
  /// Handling time percentiles (µs): p50, p90, p99, p99.9, max.
  public var p50: Double = 0
  public var p90: Double = 0
  public var p99: Double = 0
  public var p999: Double = 0
  public var maxMicros: Double = 0
  /// Total handling time (µs) of the `timed` requests, the decoded ones.
  public var sumMicros: Double = 0
  public var timed: UInt64 = 0

  public init(method: String, count: UInt64, errors: UInt64) {
    self.method = method
    self.count = count
    self.errors = errors
  }
}

/// The state directory's figures as Stats carries them (`StoreMetrics` in the proto).
public struct StoreFigures: Sendable, Equatable {
  /// false with `--no-persistence`: the other figures are zero.
  public var persistent = false
  public var walBytes: UInt64 = 0
  public var fsyncs: UInt64 = 0
  public var fsyncSecondsSum = 0.0
  /// fsyncs per bound of `fsyncBounds` (seconds), not cumulative.
  public var fsyncBuckets: [UInt64] = []
  public var fsyncBounds: [Double] = []
  public var snapshotsWritten: UInt64 = 0
  /// The newest full snapshot's creation time (Unix seconds; 0: none).
  public var lastSnapshotUnix = 0.0
  public var lastSnapshotBytes: UInt64 = 0
  /// How long the last snapshot this process wrote took.
  public var lastSnapshotSeconds = 0.0

  public init() {}
}

/// Encoders for replies (Status + bodies) and PUB events.
public enum Reply {
  public static func status(_ code: StatusCode, _ message: String = "") -> [UInt8] {
    encode(mopps__v1__status__init) { m, arena in
      m.code = Mopps__V1__Code(rawValue: UInt32(code.rawValue))
      m.message = arena.string(message)
    }
  }

  public static func createPool(_ info: PoolInfo) -> [UInt8] {
    encode(mopps__v1__create_pool_response__init) { m, arena in
      m.pool = poolInfo(info, arena)
    }
  }

  public static func restore(_ info: PoolInfo) -> [UInt8] {
    encode(mopps__v1__restore_response__init) { m, arena in
      m.pool = poolInfo(info, arena)
    }
  }

  public static func listPools(_ infos: [PoolInfo]) -> [UInt8] {
    encode(mopps__v1__list_pools_response__init) { m, arena in
      m.n_pools = infos.count
      m.pools = arena.array(infos.map { Optional(poolInfo($0, arena)) })
    }
  }

  public static func register(_ r: RegisterResult) -> [UInt8] {
    encode(mopps__v1__register_response__init) { m, _ in
      m.added = UInt64(r.added)
      m.existing = UInt64(r.existing)
      m.prompt_count = UInt64(r.promptCount)
    }
  }

  public static func select(_ r: SelectResult, packed: Bool) -> [UInt8] {
    encode(mopps__v1__select_response__init) { m, arena in
      m.select_index = r.selectIndex
      if packed {
        m.ids_le = arena.littleEndian(r.ids)
        m.samples_le = arena.littleEndian(r.samples)
        if let means = r.means { m.means_le = arena.littleEndian(means) }
        if let ids = r.candidateIDs, let samples = r.candidateSamples {
          m.candidate_ids_le = arena.littleEndian(ids)
          m.candidate_samples_le = arena.littleEndian(samples)
        }
      } else {
        (m.n_ids, m.ids) = (r.ids.count, arena.array(r.ids))
        (m.n_samples, m.samples) = (r.samples.count, arena.array(r.samples))
        if let means = r.means { (m.n_means, m.means) = (means.count, arena.array(means)) }
        if let ids = r.candidateIDs, let samples = r.candidateSamples {
          (m.n_candidate_ids, m.candidate_ids) = (ids.count, arena.array(ids))
          (m.n_candidate_samples, m.candidate_samples) = (samples.count, arena.array(samples))
        }
      }
    }
  }

  public static func update(_ r: UpdateResult) -> [UInt8] {
    encode(mopps__v1__update_response__init) { m, _ in
      m.updated = UInt64(r.updated)
      m.duplicate = r.duplicate ? 1 : 0
    }
  }

  public static func get(_ p: Posteriors, packed: Bool) -> [UInt8] {
    encode(mopps__v1__get_response__init) { m, arena in
      if packed {
        m.ids_le = arena.littleEndian(p.ids)
        m.alpha_le = arena.littleEndian(p.alpha)
        m.beta_le = arena.littleEndian(p.beta)
      } else {
        (m.n_ids, m.ids) = (p.ids.count, arena.array(p.ids))
        (m.n_alpha, m.alpha) = (p.alpha.count, arena.array(p.alpha))
        (m.n_beta, m.beta) = (p.beta.count, arena.array(p.beta))
      }
      (m.n_known, m.known) = (p.known.count, arena.array(p.known.map { $0 ? protobuf_c_boolean(1) : 0 }))
      (m.n_dps_predicted, m.dps_predicted) = (p.dpsPredicted.count, arena.array(p.dpsPredicted))
      (m.n_greso_easy_run, m.greso_easy_run) = (p.gresoEasyRun.count, arena.array(p.gresoEasyRun))
      (m.n_greso_hard_run, m.greso_hard_run) = (p.gresoHardRun.count, arena.array(p.gresoHardRun))
      (m.n_last_mean, m.last_mean) = (p.lastMean.count, arena.array(p.lastMean))
    }
  }

  public static func dropPool() -> [UInt8] { [] }

  public static func importState(imported: Int, promptCount: Int) -> [UInt8] {
    encode(mopps__v1__import_response__init) { m, _ in
      m.imported = UInt64(imported)
      m.prompt_count = UInt64(promptCount)
    }
  }

  public static func exportState(_ p: Posteriors, names: [String]) -> [UInt8] {
    encode(mopps__v1__export_response__init) { m, arena in
      m.ids_le = arena.littleEndian(p.ids)
      m.alpha_le = arena.littleEndian(p.alpha)
      m.beta_le = arena.littleEndian(p.beta)
      let named = names.indices.filter { !names[$0].isEmpty }
      (m.n_named_ids, m.named_ids) = (named.count, arena.array(named.map { p.ids[$0] }))
      (m.n_names, m.names) = (named.count, arena.array(named.map { Optional(arena.string(names[$0])) }))
    }
  }

  public static func snapshot(_ info: SnapshotInfo) -> [UInt8] {
    encode(mopps__v1__snapshot_response__init) { m, arena in
      m.snapshot = snapshotInfo(info, arena)
    }
  }

  public static func listSnapshots(_ infos: [SnapshotInfo]) -> [UInt8] {
    encode(mopps__v1__list_snapshots_response__init) { m, arena in
      (m.n_snapshots, m.snapshots) = (
        infos.count, arena.array(infos.map { Optional(snapshotInfo($0, arena)) })
      )
    }
  }

  private static func snapshotInfo(_ info: SnapshotInfo, _ arena: Arena) -> UnsafeMutablePointer<
    Mopps__V1__SnapshotInfo
  > {
    var m = Mopps__V1__SnapshotInfo()
    mopps__v1__snapshot_info__init(&m)
    m.pool = arena.string(info.pool)
    m.tag = arena.string(info.tag)
    m.lsn = info.lsn
    m.created_unix = info.created
    m.prompt_count = UInt64(info.promptCount)
    m.bytes = UInt64(info.bytes)
    return arena.object(m)
  }

  /// `poolMetrics`, when given, holds one entry per pool (Stats sends them; ListPools does not).
  public static func stats(
    uptimeSeconds: Double, requests: UInt64, methods: [MethodCounters], pools: [PoolInfo],
    residentBytes: UInt64 = 0,
    poolBytes: UInt64 = 0, kernel: String = "", cpu: String = "", poolMetrics: [PoolMetrics]? = nil,
    store: StoreFigures? = nil
  ) -> [UInt8] {
    encode(mopps__v1__stats_response__init) { m, arena in
      if let store { m.store = storeFigures(store, arena) }
      m.kernel = arena.string(kernel)
      m.cpu = arena.string(cpu)
      m.uptime_seconds = uptimeSeconds
      m.requests = requests
      let methodMessages = methods.map { c -> UnsafeMutablePointer<Mopps__V1__MethodStats>? in
        var s = Mopps__V1__MethodStats()
        mopps__v1__method_stats__init(&s)
        s.method = arena.string(c.method)
        s.count = c.count
        s.errors = c.errors
        let codes = c.errorsByCode.sorted { $0.key.rawValue < $1.key.rawValue }.map { entry in
          var cc = Mopps__V1__CodeCount()
          mopps__v1__code_count__init(&cc)
          cc.code = Mopps__V1__Code(rawValue: UInt32(entry.key.rawValue))
          cc.count = entry.value
          return Optional(arena.object(cc))
        }
        (s.n_errors_by_code, s.errors_by_code) = (codes.count, arena.array(codes))
        (s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us) = (c.p50, c.p90, c.p99, c.p999, c.maxMicros)
        (s.sum_us, s.timed) = (c.sumMicros, c.timed)
        return arena.object(s)
      }
      m.resident_bytes = residentBytes
      m.pool_bytes = poolBytes
      (m.n_methods, m.methods) = (methodMessages.count, arena.array(methodMessages))
      let infos = pools.indices.map { i -> UnsafeMutablePointer<Mopps__V1__PoolInfo>? in
        let info = poolInfo(pools[i], arena)
        if let poolMetrics, i < poolMetrics.count {
          info.pointee.metrics = Self.poolMetrics(poolMetrics[i], arena)
        }
        return info
      }
      (m.n_pools, m.pools) = (pools.count, arena.array(infos))
    }
  }

  private static func poolMetrics(_ p: PoolMetrics, _ arena: Arena) -> UnsafeMutablePointer<
    Mopps__V1__PoolMetrics
  > {
    var m = Mopps__V1__PoolMetrics()
    mopps__v1__pool_metrics__init(&m)
    m.prompts_with_data = UInt64(p.promptsWithData)
    (m.n_mean_histogram, m.mean_histogram) = (p.meanHistogram.count, arena.array(p.meanHistogram))
    m.mean_sum = p.meanSum
    m.last_select_batch = UInt32(clamping: p.lastSelectBatch)
    m.last_select_mean_sample = p.lastSelectMeanSample
    let updates = p.recentUpdates.map { f -> UnsafeMutablePointer<Mopps__V1__UpdateFigures>? in
      var u = Mopps__V1__UpdateFigures()
      mopps__v1__update_figures__init(&u)
      u.update_index = f.updateIndex
      u.prompts = UInt32(clamping: f.prompts)
      (u.predicted, u.realised, u.all_solved, u.all_failed) = (
        f.predicted, f.realised, f.allSolved, f.allFailed
      )
      return arena.object(u)
    }
    (m.n_recent_updates, m.recent_updates) = (updates.count, arena.array(updates))
    return arena.object(m)
  }

  private static func storeFigures(_ f: StoreFigures, _ arena: Arena) -> UnsafeMutablePointer<
    Mopps__V1__StoreMetrics
  > {
    var m = Mopps__V1__StoreMetrics()
    mopps__v1__store_metrics__init(&m)
    m.persistent = f.persistent ? 1 : 0
    m.wal_bytes = f.walBytes
    m.fsyncs = f.fsyncs
    m.fsync_seconds_sum = f.fsyncSecondsSum
    (m.n_fsync_buckets, m.fsync_buckets) = (f.fsyncBuckets.count, arena.array(f.fsyncBuckets))
    (m.n_fsync_bucket_seconds, m.fsync_bucket_seconds) = (f.fsyncBounds.count, arena.array(f.fsyncBounds))
    m.snapshots_written = f.snapshotsWritten
    m.last_snapshot_unix = f.lastSnapshotUnix
    m.last_snapshot_bytes = f.lastSnapshotBytes
    m.last_snapshot_seconds = f.lastSnapshotSeconds
    return arena.object(m)
  }

  public static func health(status: String, version: String, kernel: String) -> [UInt8] {
    encode(mopps__v1__health_response__init) { m, arena in
      m.status = arena.string(status)
      m.version = arena.string(version)
      m.kernel = arena.string(kernel)
    }
  }

  // MARK: Events

  public static func selectEvent(pool: String, _ r: SelectResult) -> [UInt8] {
    encode(mopps__v1__select_event__init) { m, arena in
      m.pool = arena.string(pool)
      m.select_index = r.selectIndex
      (m.n_ids, m.ids) = (r.ids.count, arena.array(r.ids))
      (m.n_samples, m.samples) = (r.samples.count, arena.array(r.samples))
      m.candidate_count = UInt32(clamping: r.candidateCount)
      m.strategy = r.strategy.wire
    }
  }

  public static func updateEvent(pool: String, ids: [UInt64], _ r: UpdateResult, requestID: String) -> [UInt8]
  {
    encode(mopps__v1__update_event__init) { m, arena in
      m.pool = arena.string(pool)
      m.update_index = r.updateIndex
      (m.n_ids, m.ids) = (ids.count, arena.array(ids))
      (m.n_alpha, m.alpha) = (r.alpha.count, arena.array(r.alpha))
      (m.n_beta, m.beta) = (r.beta.count, arena.array(r.beta))
      m.request_id = arena.string(requestID)
    }
  }

  // MARK: Helpers

  private static func poolInfo(_ info: PoolInfo, _ arena: Arena) -> UnsafeMutablePointer<Mopps__V1__PoolInfo>
  {
    var c = Mopps__V1__PoolConfig()
    mopps__v1__pool_config__init(&c)
    let k = info.config
    (c.prior_alpha_opt_case, c.prior_alpha) = (
      MOPPS__V1__POOL_CONFIG__PRIOR_ALPHA_OPT_PRIOR_ALPHA, k.priorAlpha
    )
    (c.prior_beta_opt_case, c.prior_beta) = (MOPPS__V1__POOL_CONFIG__PRIOR_BETA_OPT_PRIOR_BETA, k.priorBeta)
    (c.decay_opt_case, c.decay) = (MOPPS__V1__POOL_CONFIG__DECAY_OPT_DECAY, k.decay)
    (c.target_opt_case, c.target) = (MOPPS__V1__POOL_CONFIG__TARGET_OPT_TARGET, k.target)
    (c.band_low_opt_case, c.band_low) = (MOPPS__V1__POOL_CONFIG__BAND_LOW_OPT_BAND_LOW, k.bandLow)
    (c.band_high_opt_case, c.band_high) = (MOPPS__V1__POOL_CONFIG__BAND_HIGH_OPT_BAND_HIGH, k.bandHigh)
    (c.seed_opt_case, c.seed) = (MOPPS__V1__POOL_CONFIG__SEED_OPT_SEED, k.seed)
    (c.strict_ids_opt_case, c.strict_ids) = (
      MOPPS__V1__POOL_CONFIG__STRICT_IDS_OPT_STRICT_IDS, k.strictIDs ? 1 : 0
    )
    c.strategy = k.strategy.wire
    switch k.strategy {
    case .dps:
      var d = Mopps__V1__DPSConfig()
      mopps__v1__dpsconfig__init(&d)
      (d.decay_opt_case, d.decay) = (MOPPS__V1__DPSCONFIG__DECAY_OPT_DECAY, k.dps.decay)
      d.prior = arena.string(k.dps.prior)
      (d.n_prior_counts, d.prior_counts) = (k.dps.priorCounts.count, arena.array(k.dps.priorCounts))
      d.selection = arena.string(k.dps.selection)
      (d.entropy_weight_opt_case, d.entropy_weight) = (
        MOPPS__V1__DPSCONFIG__ENTROPY_WEIGHT_OPT_ENTROPY_WEIGHT, k.dps.entropyWeight
      )
      c.dps = arena.object(d)
    case .greso:
      let g = k.greso
      var x = Mopps__V1__GRESOConfig()
      mopps__v1__gresoconfig__init(&x)
      (x.p_easy_opt_case, x.p_easy) = (MOPPS__V1__GRESOCONFIG__P_EASY_OPT_P_EASY, g.pEasy)
      (x.p_hard_opt_case, x.p_hard) = (MOPPS__V1__GRESOCONFIG__P_HARD_OPT_P_HARD, g.pHard)
      (x.target_zero_share_opt_case, x.target_zero_share) = (
        MOPPS__V1__GRESOCONFIG__TARGET_ZERO_SHARE_OPT_TARGET_ZERO_SHARE, g.targetZeroShare
      )
      (x.easy_threshold_opt_case, x.easy_threshold) = (
        MOPPS__V1__GRESOCONFIG__EASY_THRESHOLD_OPT_EASY_THRESHOLD, g.easyThreshold
      )
      (x.hard_threshold_opt_case, x.hard_threshold) = (
        MOPPS__V1__GRESOCONFIG__HARD_THRESHOLD_OPT_HARD_THRESHOLD, g.hardThreshold
      )
      (x.step_size_opt_case, x.step_size) = (MOPPS__V1__GRESOCONFIG__STEP_SIZE_OPT_STEP_SIZE, g.stepSize)
      (x.p_min_opt_case, x.p_min) = (MOPPS__V1__GRESOCONFIG__P_MIN_OPT_P_MIN, g.pMin)
      (x.p_max_opt_case, x.p_max) = (MOPPS__V1__GRESOCONFIG__P_MAX_OPT_P_MAX, g.pMax)
      (x.keep_floor_opt_case, x.keep_floor) = (MOPPS__V1__GRESOCONFIG__KEEP_FLOOR_OPT_KEEP_FLOOR, g.keepFloor)
      (x.adapt_opt_case, x.adapt) = (MOPPS__V1__GRESOCONFIG__ADAPT_OPT_ADAPT, g.adapt ? 1 : 0)
      c.greso = arena.object(x)
    case .pools:
      let p = k.pools
      var x = Mopps__V1__PoolsConfig()
      mopps__v1__pools_config__init(&x)
      (x.hard_max_opt_case, x.hard_max) = (MOPPS__V1__POOLS_CONFIG__HARD_MAX_OPT_HARD_MAX, p.hardMax)
      (x.easy_min_opt_case, x.easy_min) = (MOPPS__V1__POOLS_CONFIG__EASY_MIN_OPT_EASY_MIN, p.easyMin)
      (x.weight_hard_opt_case, x.weight_hard) = (
        MOPPS__V1__POOLS_CONFIG__WEIGHT_HARD_OPT_WEIGHT_HARD, p.weightHard
      )
      (x.weight_normal_opt_case, x.weight_normal) = (
        MOPPS__V1__POOLS_CONFIG__WEIGHT_NORMAL_OPT_WEIGHT_NORMAL, p.weightNormal
      )
      (x.weight_easy_opt_case, x.weight_easy) = (
        MOPPS__V1__POOLS_CONFIG__WEIGHT_EASY_OPT_WEIGHT_EASY, p.weightEasy
      )
      (x.weight_unseen_opt_case, x.weight_unseen) = (
        MOPPS__V1__POOLS_CONFIG__WEIGHT_UNSEEN_OPT_WEIGHT_UNSEEN, p.weightUnseen
      )
      c.pools = arena.object(x)
    case .topK, .threshold, .uniform: break
    }
    var st = Mopps__V1__StrategyState()
    mopps__v1__strategy_state__init(&st)
    st.steps = info.state.steps
    st.greso_p_easy = info.state.gresoPEasy
    st.greso_p_hard = info.state.gresoPHard
    st.bytes_per_prompt = info.state.bytesPerPrompt
    var m = Mopps__V1__PoolInfo()
    mopps__v1__pool_info__init(&m)
    m.name = arena.string(info.name)
    m.config = arena.object(c)
    m.prompt_count = UInt64(info.promptCount)
    m.select_count = info.selectCount
    m.update_count = info.updateCount
    m.state = arena.object(st)
    return arena.object(m)
  }
}
