import MoPPSEngine
import MoPPSProtoC

extension Request {
  /// Decodes a request from its two frames. Unknown method ⇒ UNIMPLEMENTED; a body that does not
  /// parse, an unknown enum value or conflicting fields ⇒ INVALID_ARGUMENT. Never traps.
  ///
  /// Before protobuf-c sees the body, `WireScan` bounds what decoding it may cost (`limits`) and
  /// checks every string (caps, no NUL): RESOURCE_EXHAUSTED or INVALID_ARGUMENT naming the field.
  public static func decode(
    method path: [UInt8], body: [UInt8], limits: RequestLimits = RequestLimits()
  ) throws(MoPPSError) -> Request {
    guard let method = Method(path: path) else {
      let shown = String(decoding: path.prefix(80), as: UTF8.self)
      throw MoPPSError(
        .unimplemented,
        "unknown method \"\(shown)\"; methods are \(Method.servicePrefix)<\(Method.allCases.map(\.rawValue).joined(separator: "|"))>"
      )
    }
    return try decode(method, body: body, limits: limits)
  }

  public static func decode(
    _ method: Method, body: [UInt8], limits: RequestLimits = RequestLimits()
  ) throws(MoPPSError) -> Request {
    try WireScan.check(body, WireScan.schema(method), limits)
    // Every request message is named after its method (Import → mopps.v1.ImportRequest).
    func read<M>(_ unpackFn: UnpackFunction<M>, _ build: (borrowing M) throws(MoPPSError) -> Request)
      throws(MoPPSError) -> Request
    {
      try unpack(body, as: "mopps.v1.\(method.rawValue)Request", unpackFn, build)
    }
    switch method {
    case .createPool:
      return try read(mopps__v1__create_pool_request__unpack) { (m) throws(MoPPSError) in
        var fields = PoolConfigFields()
        if let c = m.config?.pointee { fields = try poolConfig(c) }
        return .createPool(CreatePoolRequest(pool: text(m.pool), config: fields))
      }
    case .dropPool:
      return try read(mopps__v1__drop_pool_request__unpack) { m in .dropPool(pool: text(m.pool)) }
    case .listPools:
      return try read(mopps__v1__list_pools_request__unpack) { _ in .listPools }
    case .register:
      return try read(mopps__v1__register_request__unpack) { (m) throws(MoPPSError) in
        let ids = try arrayField("ids", count: m.n_ids, m.ids, m.ids_le)
        var priors: (alpha: [Double], beta: [Double])? = nil
        if m.n_prior_alpha > 0 || m.n_prior_beta > 0 {
          priors = (
            Array(UnsafeBufferPointer(start: m.prior_alpha, count: m.n_prior_alpha)),
            Array(UnsafeBufferPointer(start: m.prior_beta, count: m.n_prior_beta))
          )
        }
        return .register(RegisterRequest(pool: text(m.pool), ids: ids, priors: priors))
      }
    case .select:
      return try read(mopps__v1__select_request__unpack) { (m) throws(MoPPSError) in
        let candidates = try arrayField("candidates", count: m.n_candidates, m.candidates, m.candidates_le)
        let source: CandidateSource
        if !candidates.isEmpty {
          guard m.candidate_count == 0 else {
            throw .invalid("candidates and candidate_count are both set; send one of them")
          }
          source = .given(candidates)
        } else if m.candidate_count > 0 {
          source = .drawn(count: Int(m.candidate_count))
        } else {
          source = .all
        }
        let query = SelectQuery(
          batchSize: Int(m.batch_size), candidates: source, strategy: try strategy(m.strategy, "strategy"),
          returnMeans: m.return_means != 0, returnAllSamples: m.return_all_samples != 0)
        return .select(
          SelectRequest(
            pool: text(m.pool), query: query, packedReply: m.packed_reply != 0, requestID: text(m.request_id))
        )
      }
    case .update:
      return try read(mopps__v1__update_request__unpack) { (m) throws(MoPPSError) in
        let ids = try arrayField("ids", count: m.n_ids, m.ids, m.ids_le)
        let successes = try arrayField("successes", count: m.n_successes, m.successes, m.successes_le)
        var trials: [UInt32] = try arrayField("trials", count: m.n_trials, m.trials, m.trials_le)
        if trials.isEmpty {
          guard m.rollouts > 0 else {
            throw .invalid(
              "trials: send one trial count per id in trials/trials_le, or one for all in rollouts")
          }
          trials = [UInt32](repeating: m.rollouts, count: ids.count)
        } else if m.rollouts != 0 {
          throw .invalid("trials and rollouts are both set; send one of them")
        }
        let step = m.step_opt_case == MOPPS__V1__UPDATE_REQUEST__STEP_OPT_STEP ? m.step : nil
        let outcomes = Outcomes(ids: ids, successes: successes, trials: trials.map(Double.init), step: step)
        return .update(UpdateRequest(pool: text(m.pool), outcomes: outcomes, requestID: text(m.request_id)))
      }
    case .get:
      return try read(mopps__v1__get_request__unpack) { (m) throws(MoPPSError) in
        let ids = try arrayField("ids", count: m.n_ids, m.ids, m.ids_le)
        return .get(
          GetRequest(pool: text(m.pool), ids: ids.isEmpty ? nil : ids, packedReply: m.packed_reply != 0))
      }
    case .snapshot:
      return try read(mopps__v1__snapshot_request__unpack) { m in
        .snapshot(TagRequest(pool: text(m.pool), tag: text(m.tag)))
      }
    case .restore:
      return try read(mopps__v1__restore_request__unpack) { m in
        .restore(TagRequest(pool: text(m.pool), tag: text(m.tag)))
      }
    case .listSnapshots:
      return try read(mopps__v1__list_snapshots_request__unpack) { m in .listSnapshots(pool: text(m.pool)) }
    case .importState:
      return try read(mopps__v1__import_request__unpack) { (m) throws(MoPPSError) in
        let names = (0..<m.n_names).map { text(m.names[$0]) }
        return .importState(
          ImportRequest(
            pool: text(m.pool), ids: try arrayField("ids", count: m.n_ids, m.ids, m.ids_le),
            alpha: try arrayField("alpha", count: m.n_alpha, m.alpha, m.alpha_le),
            beta: try arrayField("beta", count: m.n_beta, m.beta, m.beta_le), names: names))
      }
    case .exportState:
      return try read(mopps__v1__export_request__unpack) { m in .exportState(pool: text(m.pool)) }
    case .stats:
      return try read(mopps__v1__stats_request__unpack) { _ in .stats }
    case .health:
      return try read(mopps__v1__health_request__unpack) { _ in .health }
    }
  }

  private static func poolConfig(_ c: Mopps__V1__PoolConfig) throws(MoPPSError) -> PoolConfigFields {
    var f = PoolConfigFields()
    if c.prior_alpha_opt_case == MOPPS__V1__POOL_CONFIG__PRIOR_ALPHA_OPT_PRIOR_ALPHA {
      f.priorAlpha = c.prior_alpha
    }
    if c.prior_beta_opt_case == MOPPS__V1__POOL_CONFIG__PRIOR_BETA_OPT_PRIOR_BETA {
      f.priorBeta = c.prior_beta
    }
    if c.decay_opt_case == MOPPS__V1__POOL_CONFIG__DECAY_OPT_DECAY { f.decay = c.decay }
    if c.target_opt_case == MOPPS__V1__POOL_CONFIG__TARGET_OPT_TARGET { f.target = c.target }
    if c.band_low_opt_case == MOPPS__V1__POOL_CONFIG__BAND_LOW_OPT_BAND_LOW { f.bandLow = c.band_low }
    if c.band_high_opt_case == MOPPS__V1__POOL_CONFIG__BAND_HIGH_OPT_BAND_HIGH { f.bandHigh = c.band_high }
    if c.seed_opt_case == MOPPS__V1__POOL_CONFIG__SEED_OPT_SEED { f.seed = c.seed }
    if c.strict_ids_opt_case == MOPPS__V1__POOL_CONFIG__STRICT_IDS_OPT_STRICT_IDS {
      f.strictIDs = c.strict_ids != 0
    }
    f.strategy = try strategy(c.strategy, "config.strategy")
    if let d = c.dps?.pointee {
      var x = DPSFields()
      if d.decay_opt_case == MOPPS__V1__DPSCONFIG__DECAY_OPT_DECAY { x.decay = d.decay }
      x.prior = text(d.prior)
      x.priorCounts = Array(UnsafeBufferPointer(start: d.prior_counts, count: d.n_prior_counts))
      x.selection = text(d.selection)
      if d.entropy_weight_opt_case == MOPPS__V1__DPSCONFIG__ENTROPY_WEIGHT_OPT_ENTROPY_WEIGHT {
        x.entropyWeight = d.entropy_weight
      }
      f.dps = x
    }
    if let g = c.greso?.pointee {
      var x = GRESOFields()
      if g.p_easy_opt_case == MOPPS__V1__GRESOCONFIG__P_EASY_OPT_P_EASY { x.pEasy = g.p_easy }
      if g.p_hard_opt_case == MOPPS__V1__GRESOCONFIG__P_HARD_OPT_P_HARD { x.pHard = g.p_hard }
      if g.target_zero_share_opt_case == MOPPS__V1__GRESOCONFIG__TARGET_ZERO_SHARE_OPT_TARGET_ZERO_SHARE {
        x.targetZeroShare = g.target_zero_share
      }
      if g.easy_threshold_opt_case == MOPPS__V1__GRESOCONFIG__EASY_THRESHOLD_OPT_EASY_THRESHOLD {
        x.easyThreshold = g.easy_threshold
      }
      if g.hard_threshold_opt_case == MOPPS__V1__GRESOCONFIG__HARD_THRESHOLD_OPT_HARD_THRESHOLD {
        x.hardThreshold = g.hard_threshold
      }
      if g.step_size_opt_case == MOPPS__V1__GRESOCONFIG__STEP_SIZE_OPT_STEP_SIZE { x.stepSize = g.step_size }
      if g.p_min_opt_case == MOPPS__V1__GRESOCONFIG__P_MIN_OPT_P_MIN { x.pMin = g.p_min }
      if g.p_max_opt_case == MOPPS__V1__GRESOCONFIG__P_MAX_OPT_P_MAX { x.pMax = g.p_max }
      if g.keep_floor_opt_case == MOPPS__V1__GRESOCONFIG__KEEP_FLOOR_OPT_KEEP_FLOOR {
        x.keepFloor = g.keep_floor
      }
      if g.adapt_opt_case == MOPPS__V1__GRESOCONFIG__ADAPT_OPT_ADAPT { x.adapt = g.adapt != 0 }
      f.greso = x
    }
    if let p = c.pools?.pointee {
      var x = PoolsFields()
      if p.hard_max_opt_case == MOPPS__V1__POOLS_CONFIG__HARD_MAX_OPT_HARD_MAX { x.hardMax = p.hard_max }
      if p.easy_min_opt_case == MOPPS__V1__POOLS_CONFIG__EASY_MIN_OPT_EASY_MIN { x.easyMin = p.easy_min }
      if p.weight_hard_opt_case == MOPPS__V1__POOLS_CONFIG__WEIGHT_HARD_OPT_WEIGHT_HARD {
        x.weightHard = p.weight_hard
      }
      if p.weight_normal_opt_case == MOPPS__V1__POOLS_CONFIG__WEIGHT_NORMAL_OPT_WEIGHT_NORMAL {
        x.weightNormal = p.weight_normal
      }
      if p.weight_easy_opt_case == MOPPS__V1__POOLS_CONFIG__WEIGHT_EASY_OPT_WEIGHT_EASY {
        x.weightEasy = p.weight_easy
      }
      if p.weight_unseen_opt_case == MOPPS__V1__POOLS_CONFIG__WEIGHT_UNSEEN_OPT_WEIGHT_UNSEEN {
        x.weightUnseen = p.weight_unseen
      }
      f.pools = x
    }
    try f.checkStrategyMessages()
    return f
  }

  /// nil for STRATEGY_UNSPECIFIED.
  private static func strategy(_ s: Mopps__V1__Strategy, _ field: String) throws(MoPPSError) -> Strategy? {
    switch s {
    case MOPPS__V1__STRATEGY__STRATEGY_UNSPECIFIED: return nil
    case MOPPS__V1__STRATEGY__STRATEGY_TOPK: return .topK
    case MOPPS__V1__STRATEGY__STRATEGY_THRESHOLD: return .threshold
    case MOPPS__V1__STRATEGY__STRATEGY_UNIFORM: return .uniform
    case MOPPS__V1__STRATEGY__STRATEGY_DPS: return .dps
    case MOPPS__V1__STRATEGY__STRATEGY_GRESO: return .greso
    case MOPPS__V1__STRATEGY__STRATEGY_POOLS: return .pools
    default: throw .invalid("\(field): unknown strategy value \(s.rawValue)")
    }
  }
}

extension Strategy {
  var wire: Mopps__V1__Strategy {
    switch self {
    case .topK: MOPPS__V1__STRATEGY__STRATEGY_TOPK
    case .threshold: MOPPS__V1__STRATEGY__STRATEGY_THRESHOLD
    case .uniform: MOPPS__V1__STRATEGY__STRATEGY_UNIFORM
    case .dps: MOPPS__V1__STRATEGY__STRATEGY_DPS
    case .greso: MOPPS__V1__STRATEGY__STRATEGY_GRESO
    case .pools: MOPPS__V1__STRATEGY__STRATEGY_POOLS
    }
  }
}
