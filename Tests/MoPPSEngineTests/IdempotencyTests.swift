import Testing

@testable import MoPPSEngine

@Suite struct IdempotencyTests {
  static func pool(strict: Bool = false) throws -> (Engine, Pool) {
    let engine = Engine(windows: Engine.Windows(updates: 4, selects: 3))
    let pool = try engine.createPool("p", config: PoolConfig(seed: 11, strictIDs: strict))
    _ = try pool.register(Array(0..<100))
    return (engine, pool)
  }

  @Test func keyedSelectDrawsOnceAndRefusesOtherArguments() throws {
    let (_, pool) = try Self.pool()
    let query = SelectQuery(batchSize: 4, candidates: .drawn(count: 16), returnMeans: true)
    let first = try pool.select(query, requestID: "k1")
    #expect(first.replay == .fresh)
    let again = try pool.select(query, requestID: "k1")
    #expect(again.replay == .duplicate && again.result == first.result)
    #expect(pool.info.selectCount == 1)
    var other = query
    other.batchSize = 5
    let error = #expect(throws: MoPPSError.self) { try pool.select(other, requestID: "k1") }
    #expect(error?.code == .failedPrecondition && error?.message.contains("request_id") == true)
    #expect(pool.info.selectCount == 1)
    // The window holds 3 replies: the oldest is forgotten and drawn afresh.
    for k in 2...4 { _ = try pool.select(query, requestID: "k\(k)") }
    #expect(try pool.select(query, requestID: "k1").replay == .fresh)
    #expect(try pool.select(query, requestID: "k4").replay == .duplicate)
  }

  @Test func fingerprintsSeeEveryField() {
    let base = Outcomes(ids: [1, 2], successes: [1, 0], trials: [2, 2])
    var variants = [base]
    variants.append(Outcomes(ids: [2, 1], successes: [1, 0], trials: [2, 2]))
    variants.append(Outcomes(ids: [1, 2], successes: [0, 1], trials: [2, 2]))
    variants.append(Outcomes(ids: [1, 2], successes: [1, 0], trials: [2, 3]))
    variants.append(Outcomes(ids: [1, 2, 3], successes: [1, 0, 0], trials: [2, 2, 1]))
    let prints = variants.map(Fingerprint.of)
    #expect(Set(prints).count == variants.count)
    #expect(Fingerprint.of(Outcomes(ids: [1, 2], successes: [1, 0], trials: [2, 2])) == prints[0])
    let queries = [
      SelectQuery(batchSize: 2, candidates: .given([1, 2, 3])),
      SelectQuery(batchSize: 2, candidates: .given([1, 3, 2])),
      SelectQuery(batchSize: 2, candidates: .drawn(count: 3)),
      SelectQuery(batchSize: 2, candidates: .all),
      SelectQuery(batchSize: 1, candidates: .given([1, 2, 3])),
      SelectQuery(batchSize: 2, candidates: .given([1, 2, 3]), strategy: .uniform),
      SelectQuery(batchSize: 2, candidates: .given([1, 2, 3]), returnMeans: true),
    ]
    #expect(Set(queries.map(Fingerprint.of)).count == queries.count)
  }

  @Test func reusedUpdateIDWithOtherContentChangesNothing() throws {
    let (_, pool) = try Self.pool()
    let outcomes = Outcomes(ids: [1, 2], successes: [1, 0], trials: [1, 1])
    #expect(try !pool.update(outcomes, requestID: "u").duplicate)
    #expect(try pool.check(outcomes, requestID: "u") == .duplicate)
    #expect(try pool.update(outcomes, requestID: "u").duplicate)
    let before = pool.posteriors([1, 2, 3])
    let other = Outcomes(ids: [1, 3], successes: [1, 0], trials: [1, 1])
    let applied = #expect(throws: MoPPSError.self) { try pool.update(other, requestID: "u") }
    let checked = #expect(throws: MoPPSError.self) { try pool.check(other, requestID: "u") }
    #expect(applied?.code == .failedPrecondition && checked?.code == .failedPrecondition)
    #expect(pool.posteriors([1, 2, 3]) == before)
  }

  @Test func strictIDsRefuseUnregisteredUpdates() throws {
    let (_, pool) = try Self.pool(strict: true)
    let before = pool.posteriors(nil)
    let error = #expect(throws: MoPPSError.self) {
      try pool.update(Outcomes(ids: [5, 500], successes: [1, 0], trials: [1, 1]))
    }
    #expect(error?.code == .notFound && error?.message.contains("500") == true)
    #expect(pool.posteriors(nil) == before && pool.info.promptCount == 100)
    #expect(try pool.update(Outcomes(ids: [5], successes: [1], trials: [1])).updated == 1)
  }

  /// Recovery replays logged selects: the counter, the epoch order and the remembered replies come
  /// back, so the next draws of a recovered pool are those of the original.
  @Test func replayedSelectsReproduceEpochsCountersAndReplies() throws {
    let (_, original) = try Self.pool()
    let (_, replayed) = try Self.pool()
    let query = SelectQuery(batchSize: 4, candidates: .drawn(count: 30))
    for step in 0..<7 {
      let key = step % 2 == 0 ? "s\(step)" : ""
      let (result, _) = try original.select(query, requestID: key)
      let memo =
        key.isEmpty ? nil : SelectMemo(requestID: key, fingerprint: Fingerprint.of(query), result: result)
      try replayed.replaySelect(count: result.selectIndex + 1, drawn: 30, memo: memo)
    }
    #expect(replayed.info.selectCount == original.info.selectCount)
    #expect(try replayed.select(query) == original.select(query))
    #expect(try replayed.select(query, requestID: "s6") == original.select(query, requestID: "s6"))
    #expect(replayed.snapshot() == original.snapshot())
    #expect(throws: MoPPSError.self) { try replayed.replaySelect(count: 1, drawn: 1000, memo: nil) }
  }

  @Test func recentMapForgetsOldestAndUndoesInserts() {
    var map = RecentMap<Int>(capacity: 3)
    for (i, k) in ["a", "b", "c", "d"].enumerated() { map.insert(k, i) }
    #expect(map.ordered == ["b", "c", "d"] && map["a"] == nil && map["d"] == 3)
    map.insert("e", 4)
    map.insert("f", 5)
    #expect(map.ordered == ["d", "e", "f"] && map["b"] == nil)
    // Undoing an insert puts back exactly what it changed, full or not.
    let full = map.orderedEntries.map { "\($0.key)=\($0.value)" }
    let evicting = map.insert("g", 6)!
    #expect(evicting.evicted?.key == "d")
    map.undoInsert(evicting)
    #expect(map.orderedEntries.map { "\($0.key)=\($0.value)" } == full && map["g"] == nil)
    map.insert("h", 7)
    #expect(map.ordered == ["e", "f", "h"])
    var small = RecentMap<Int>(capacity: 4)
    small.insert("x", 1)
    small.undoInsert(small.insert("y", 2)!)
    #expect(small.ordered == ["x"] && small["y"] == nil)
  }
}
