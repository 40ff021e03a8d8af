import MoPPSEngine
import MoPPSProtoC

/// The client side of the wire contract: request bodies out, reply bodies in (for MoPPSClient and
/// tests). Arrays go out as packed little-endian bytes; replies are read in either array form.
public enum ClientCodec {
  // MARK: Requests

  public static func createPool(pool: String, config: PoolConfigFields) -> [UInt8] {
    encode(mopps__v1__create_pool_request__init) { m, arena in
      var c = Mopps__V1__PoolConfig()
      mopps__v1__pool_config__init(&c)
      if let v = config.priorAlpha {
        (c.prior_alpha_opt_case, c.prior_alpha) = (MOPPS__V1__POOL_CONFIG__PRIOR_ALPHA_OPT_PRIOR_ALPHA, v)
      }
      if let v = config.priorBeta {
        (c.prior_beta_opt_case, c.prior_beta) = (MOPPS__V1__POOL_CONFIG__PRIOR_BETA_OPT_PRIOR_BETA, v)
      }
      if let v = config.decay { (c.decay_opt_case, c.decay) = (MOPPS__V1__POOL_CONFIG__DECAY_OPT_DECAY, v) }
      if let v = config.target {
        (c.target_opt_case, c.target) = (MOPPS__V1__POOL_CONFIG__TARGET_OPT_TARGET, v)
      }
      if let v = config.bandLow {
        (c.band_low_opt_case, c.band_low) = (MOPPS__V1__POOL_CONFIG__BAND_LOW_OPT_BAND_LOW, v)
      }
      if let v = config.bandHigh {
        (c.band_high_opt_case, c.band_high) = (MOPPS__V1__POOL_CONFIG__BAND_HIGH_OPT_BAND_HIGH, v)
      }
      if let v = config.seed { (c.seed_opt_case, c.seed) = (MOPPS__V1__POOL_CONFIG__SEED_OPT_SEED, v) }
      if let v = config.strictIDs {
        (c.strict_ids_opt_case, c.strict_ids) = (MOPPS__V1__POOL_CONFIG__STRICT_IDS_OPT_STRICT_IDS, v ? 1 : 0)
      }
      c.strategy = config.strategy?.wire ?? MOPPS__V1__STRATEGY__STRATEGY_UNSPECIFIED
      m.pool = arena.string(pool)
      m.config = arena.object(c)
    }
  }

  public static func dropPool(pool: String) -> [UInt8] {
    encode(mopps__v1__drop_pool_request__init) { m, arena in
      m.pool = arena.string(pool)
    }
  }

  public static func register(pool: String, ids: [UInt64], priors: (alpha: [Double], beta: [Double])?)
    -> [UInt8]
  {
    encode(mopps__v1__register_request__init) { m, arena in
      m.pool = arena.string(pool)
      m.ids_le = arena.littleEndian(ids)
      if let priors {
        (m.n_prior_alpha, m.prior_alpha) = (priors.alpha.count, arena.array(priors.alpha))
        (m.n_prior_beta, m.prior_beta) = (priors.beta.count, arena.array(priors.beta))
      }
    }
  }

  public static func select(
    pool: String, batchSize: UInt32, candidates: [UInt64], candidateCount: UInt32, strategy: Strategy?,
    returnMeans: Bool, requestID: String
  ) -> [UInt8] {
    encode(mopps__v1__select_request__init) { m, arena in
      m.pool = arena.string(pool)
      m.batch_size = batchSize
      m.candidates_le = arena.littleEndian(candidates)
      m.candidate_count = candidateCount
      m.strategy = strategy?.wire ?? MOPPS__V1__STRATEGY__STRATEGY_UNSPECIFIED
      m.return_means = returnMeans ? 1 : 0
      m.packed_reply = 1
      m.request_id = arena.string(requestID)
    }
  }

  /// `trials` nil: `rollouts` trials for every id.
  public static func update(
    pool: String, ids: [UInt64], successes: [Double], trials: [UInt32]?, rollouts: UInt32, requestID: String
  ) -> [UInt8] {
    encode(mopps__v1__update_request__init) { m, arena in
      m.pool = arena.string(pool)
      m.ids_le = arena.littleEndian(ids)
      m.successes_le = arena.littleEndian(successes)
      if let trials { m.trials_le = arena.littleEndian(trials) } else { m.rollouts = rollouts }
      m.request_id = arena.string(requestID)
    }
  }

  /// `ids` nil: every registered prompt.
  public static func get(pool: String, ids: [UInt64]?) -> [UInt8] {
    encode(mopps__v1__get_request__init) { m, arena in
      m.pool = arena.string(pool)
      m.ids_le = arena.littleEndian(ids ?? [])
      m.packed_reply = 1
    }
  }

  public static func snapshot(pool: String, tag: String) -> [UInt8] {
    encode(mopps__v1__snapshot_request__init) { m, arena in
      (m.pool, m.tag) = (arena.string(pool), arena.string(tag))
    }
  }

  public static func restore(pool: String, tag: String) -> [UInt8] {
    encode(mopps__v1__restore_request__init) { m, arena in
      (m.pool, m.tag) = (arena.string(pool), arena.string(tag))
    }
  }

  public static func listSnapshots(pool: String) -> [UInt8] {
    encode(mopps__v1__list_snapshots_request__init) { m, arena in
      m.pool = arena.string(pool)
    }
  }

  public static func importState(pool: String, ids: [UInt64], alpha: [Double], beta: [Double]) -> [UInt8] {
    encode(mopps__v1__import_request__init) { m, arena in
      m.pool = arena.string(pool)
      m.ids_le = arena.littleEndian(ids)
      m.alpha_le = arena.littleEndian(alpha)
      m.beta_le = arena.littleEndian(beta)
    }
  }

  public static func exportState(pool: String) -> [UInt8] {
    encode(mopps__v1__export_request__init) { m, arena in
      m.pool = arena.string(pool)
    }
  }

  // MARK: Replies

  /// A pool as CreatePool, Restore and ListPools report it.
  public struct Pool: Sendable, Equatable {
    public var name: String
    /// Every field set: the values in force.
    public var config: PoolConfig
    public var promptCount: UInt64
    public var selectCount: UInt64
    public var updateCount: UInt64
  }

  public struct Selected: Sendable, Equatable {
    public var ids: [UInt64]
    public var samples: [Float]
    /// Empty unless the request asked for means.
    public var means: [Double]
    public var selectIndex: UInt64
  }

  public struct PosteriorArrays: Sendable, Equatable {
    public var ids: [UInt64]
    public var alpha: [Double]
    public var beta: [Double]
  }

  public static func decodeCreatePool(_ bytes: [UInt8]) throws(MoPPSError) -> Pool {
    try unpack(
      bytes, as: "mopps.v1.CreatePoolResponse", mopps__v1__create_pool_response__unpack
    ) { m throws(MoPPSError) in try poolInfo(m.pool) }
  }

  public static func decodeRestore(_ bytes: [UInt8]) throws(MoPPSError) -> Pool {
    try unpack(
      bytes, as: "mopps.v1.RestoreResponse", mopps__v1__restore_response__unpack
    ) { m throws(MoPPSError) in try poolInfo(m.pool) }
  }

  public static func decodeListPools(_ bytes: [UInt8]) throws(MoPPSError) -> [Pool] {
    try unpack(
      bytes, as: "mopps.v1.ListPoolsResponse", mopps__v1__list_pools_response__unpack
    ) { m throws(MoPPSError) in
      var out: [Pool] = []
      for i in 0..<m.n_pools { out.append(try poolInfo(m.pools[i])) }
      return out
    }
  }

  /// (added, existing, prompt count).
  public static func decodeRegister(_ bytes: [UInt8]) throws(MoPPSError) -> (
    added: UInt64, existing: UInt64, promptCount: UInt64
  ) {
    try unpack(
      bytes, as: "mopps.v1.RegisterResponse", mopps__v1__register_response__unpack
    ) { m in (m.added, m.existing, m.prompt_count) }
  }

  public static func decodeSelect(_ bytes: [UInt8]) throws(MoPPSError) -> Selected {
    try unpack(
      bytes, as: "mopps.v1.SelectResponse", mopps__v1__select_response__unpack
    ) { m throws(MoPPSError) in
      Selected(
        ids: try arrayField("ids", count: m.n_ids, m.ids, m.ids_le),
        samples: try arrayField("samples", count: m.n_samples, m.samples, m.samples_le),
        means: try arrayField("means", count: m.n_means, m.means, m.means_le), selectIndex: m.select_index)
    }
  }

  public static func decodeUpdate(_ bytes: [UInt8]) throws(MoPPSError) -> (
    updated: UInt64, duplicate: Bool
  ) {
    try unpack(
      bytes, as: "mopps.v1.UpdateResponse", mopps__v1__update_response__unpack
    ) { m in (m.updated, m.duplicate != 0) }
  }

  public static func decodeGet(_ bytes: [UInt8]) throws(MoPPSError) -> PosteriorArrays {
    try unpack(
      bytes, as: "mopps.v1.GetResponse", mopps__v1__get_response__unpack
    ) { m throws(MoPPSError) in
      PosteriorArrays(
        ids: try arrayField("ids", count: m.n_ids, m.ids, m.ids_le),
        alpha: try arrayField("alpha", count: m.n_alpha, m.alpha, m.alpha_le),
        beta: try arrayField("beta", count: m.n_beta, m.beta, m.beta_le))
    }
  }

  public static func decodeExport(_ bytes: [UInt8]) throws(MoPPSError) -> PosteriorArrays {
    try unpack(
      bytes, as: "mopps.v1.ExportResponse", mopps__v1__export_response__unpack
    ) { m throws(MoPPSError) in
      PosteriorArrays(
        ids: try arrayField("ids", count: 0, nil as UnsafePointer<UInt64>?, m.ids_le),
        alpha: try arrayField("alpha", count: 0, nil as UnsafePointer<Double>?, m.alpha_le),
        beta: try arrayField("beta", count: 0, nil as UnsafePointer<Double>?, m.beta_le))
    }
  }

  public static func decodeSnapshot(_ bytes: [UInt8]) throws(MoPPSError) -> SnapshotInfo {
    try unpack(
      bytes, as: "mopps.v1.SnapshotResponse", mopps__v1__snapshot_response__unpack
    ) { m throws(MoPPSError) in try snapshotInfo(m.snapshot) }
  }

  public static func decodeListSnapshots(_ bytes: [UInt8]) throws(MoPPSError) -> [SnapshotInfo] {
    try unpack(
      bytes, as: "mopps.v1.ListSnapshotsResponse", mopps__v1__list_snapshots_response__unpack
    ) { m throws(MoPPSError) in
      var out: [SnapshotInfo] = []
      for i in 0..<m.n_snapshots { out.append(try snapshotInfo(m.snapshots[i])) }
      return out
    }
  }

  /// (imported, prompt count).
  public static func decodeImport(_ bytes: [UInt8]) throws(MoPPSError) -> (
    imported: UInt64, promptCount: UInt64
  ) {
    try unpack(
      bytes, as: "mopps.v1.ImportResponse", mopps__v1__import_response__unpack
    ) { m in (m.imported, m.prompt_count) }
  }

  // MARK: Helpers

  private static func poolInfo(_ p: UnsafeMutablePointer<Mopps__V1__PoolInfo>?) throws(MoPPSError) -> Pool {
    guard let p else { throw .invalid("reply without its PoolInfo") }
    let m = p.pointee
    var config = PoolConfig()
    if let c = m.config?.pointee {
      config = PoolConfig(
        priorAlpha: c.prior_alpha, priorBeta: c.prior_beta, decay: c.decay, target: c.target,
        strategy: Strategy(wire: c.strategy) ?? .topK, bandLow: c.band_low, bandHigh: c.band_high,
        seed: c.seed, strictIDs: c.strict_ids != 0)
    }
    return Pool(
      name: text(m.name), config: config, promptCount: m.prompt_count, selectCount: m.select_count,
      updateCount: m.update_count)
  }

  private static func snapshotInfo(_ p: UnsafeMutablePointer<Mopps__V1__SnapshotInfo>?) throws(MoPPSError)
    -> SnapshotInfo
  {
    guard let p else { throw .invalid("reply without its SnapshotInfo") }
    let m = p.pointee
    return SnapshotInfo(
      pool: text(m.pool), tag: text(m.tag), lsn: m.lsn, created: m.created_unix,
      promptCount: Int(clamping: m.prompt_count), bytes: Int(clamping: m.bytes))
  }
}

extension Strategy {
  init?(wire: Mopps__V1__Strategy) {
    switch wire {
    case MOPPS__V1__STRATEGY__STRATEGY_TOPK: self = .topK
    case MOPPS__V1__STRATEGY__STRATEGY_THRESHOLD: self = .threshold
    case MOPPS__V1__STRATEGY__STRATEGY_UNIFORM: self = .uniform
    case MOPPS__V1__STRATEGY__STRATEGY_DPS: self = .dps
    case MOPPS__V1__STRATEGY__STRATEGY_GRESO: self = .greso
    case MOPPS__V1__STRATEGY__STRATEGY_POOLS: self = .pools
    default: return nil
    }
  }
}
