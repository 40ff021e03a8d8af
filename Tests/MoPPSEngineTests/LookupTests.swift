import Testing

@testable import MoPPSEngine
@testable import MoPPSKernels

/// The branch-free building blocks of a select, each against a plain reference implementation.
struct LookupTests {
  /// Batched lookup (probe rounds, no branches) agrees with one-at-a-time lookups, for known and
  /// unknown ids, in tables at several fill levels (so displaced entries and long probe runs occur).
  @Test(arguments: [1, 700, 3_000, 49_000, 100_000])
  func gatherAgreesWithSingleLookups(prompts: Int) {
    let table = PromptTable()
    var rng = Xoshiro256(seed: UInt64(prompts))
    for i in 0..<prompts {
      // Clustered ids (small multiples) stress linear probing more than random ones.
      table.append(UInt64(i) &* 3, alpha: Float(1 + rng.nextBelow(50)), beta: Float(1 + rng.nextBelow(50)))
    }
    // Known ids, unknown ids in between them, and ids far outside.
    let ids = (0..<5_000).map { _ in UInt64(rng.nextBelow(3 * prompts + 10)) } + [UInt64.max, 0, 1 << 40]
    var alpha = [Float](repeating: -1, count: ids.count)
    var beta = alpha
    let known = table.gather(ids, prior: (0.5, 2), alpha: &alpha, beta: &beta)
    var expectedKnown = 0
    table.withLookup { look in
      for (j, id) in ids.enumerated() {
        if let slot = look(id) {
          expectedKnown += 1
          #expect(
            alpha[j] == table.posterior(slot).alpha && beta[j] == table.posterior(slot).beta, "id \(id)")
        } else {
          #expect(alpha[j] == 0.5 && beta[j] == 2, "unknown id \(id)")
        }
      }
    }
    #expect(known == expectedKnown)
  }

  /// Ids registered as 0, 1, 2, … (dataset indices) resolve by arithmetic; ids appended after the
  /// first one out of order go through the map, even when they look like indices again.
  @Test(arguments: [1, 5_000, 70_000])
  func gatherOnDatasetIndices(prompts: Int) {
    let table = PromptTable()
    var rng = Xoshiro256(seed: 31)
    var truth: [UInt64: (Float, Float)] = [:]
    func add(_ id: UInt64) {
      let p = (Float(1 + rng.nextBelow(50)), Float(1 + rng.nextBelow(50)))
      table.append(id, alpha: p.0, beta: p.1)
      truth[id] = p
    }
    for i in 0..<prompts { add(UInt64(i)) }
    // Breaks the run, then continues with index-like ids that are no longer at their own slot.
    add(UInt64(prompts) + 1_000_000)
    for i in 0..<50 { add(UInt64(prompts + 1 + i * 2)) }
    let ids =
      (0..<6_000).map { _ in UInt64(rng.nextBelow(prompts + 200)) } + [
        UInt64(prompts) + 1_000_000, UInt64.max,
      ]
    var alpha = [Float](repeating: -1, count: ids.count)
    var beta = alpha
    let known = table.gather(ids, prior: (0.5, 2), alpha: &alpha, beta: &beta)
    #expect(known == ids.filter { truth[$0] != nil }.count)
    for (j, id) in ids.enumerated() {
      let expected = truth[id] ?? (0.5, 2)
      #expect(alpha[j] == expected.0 && beta[j] == expected.1, "id \(id)")
    }
    // Candidates that are all dataset indices take the one-load-per-id path (one segment or several).
    let indices = (0..<4_096).map { _ in UInt64(rng.nextBelow(prompts)) }
    var indexAlpha = [Float](repeating: -1, count: indices.count)
    var indexBeta = indexAlpha
    #expect(table.gather(indices, prior: (0.5, 2), alpha: &indexAlpha, beta: &indexBeta) == indices.count)
    for (j, id) in indices.enumerated() {
      #expect(indexAlpha[j] == truth[id]!.0 && indexBeta[j] == truth[id]!.1, "index id \(id)")
    }
    table.withLookup { look in
      for id in truth.keys { #expect(look(id).map(table.id) == id) }
      #expect(look(UInt64(prompts)) == nil)
    }
    for id in truth.keys { #expect(table.writerLookup(id).map(table.id) == id) }
  }

  @Test func gatherOnAnEmptyTableGivesThePrior() {
    var alpha: [Float] = [0, 0]
    var beta: [Float] = [0, 0]
    #expect(PromptTable().gather([5, 9], prior: (3, 4), alpha: &alpha, beta: &beta) == 0)
    #expect(alpha == [3, 3] && beta == [4, 4])
  }

  /// The gather that checks for repeats on the way (a bitmap over the dense range, in the same pass
  /// as the loads, for candidates that are all dataset indices) says "distinct" exactly when an exact
  /// set does, and writes the same words as the plain gather: in dense pools of one and several
  /// segments, with candidates all dense, with unknown ids among them, and in a pool of scattered ids.
  @Test(arguments: [300, 5_000, 70_000])
  func gatherDistinctAgreesWithExactSet(prompts: Int) {
    let dense = PromptTable()
    let scattered = PromptTable()
    var rng = Xoshiro256(seed: UInt64(prompts) &+ 41)
    for i in 0..<prompts {
      let (a, b) = (Float(1 + rng.nextBelow(50)), Float(1 + rng.nextBelow(50)))
      dense.append(UInt64(i), alpha: a, beta: b)
      scattered.append(UInt64(i + 1) &* 0x9E37_79B9, alpha: a, beta: b)
    }
    var fused = 0
    for trial in 0..<120 {
      let table = trial % 4 == 3 ? scattered : dense
      let n = 2 + rng.nextBelow(min(prompts, 4_096) - 1)
      var ids: [UInt64] =
        trial % 4 == 3
        ? (0..<n).map { _ in UInt64(rng.nextBelow(prompts) + 1) &* 0x9E37_79B9 }
        : (0..<n).map { _ in UInt64(rng.nextBelow(prompts)) }
      ids = Array(Set(ids))
      if trial % 4 == 2 { ids[rng.nextBelow(ids.count)] = UInt64(prompts + rng.nextBelow(10)) }  // unknown
      if trial % 2 == 1 && ids.count > 1 {
        ids[rng.nextBelow(ids.count)] = ids[rng.nextBelow(ids.count)]  // maybe a repeat
      }
      let distinct = Set(ids).count == ids.count
      if trial % 4 < 2 && ids.count > 1 && prompts <= 64 * ids.count { fused += 1 }
      var words = [UInt64](repeating: 0, count: ids.count)
      let answer = words.withUnsafeMutableBufferPointer {
        table.gatherDistinct(ids, prior: (0.5, 2), words: $0.baseAddress!)
      }
      #expect(answer == distinct, "trial \(trial) n \(ids.count)")
      guard distinct else { continue }
      var expected = [UInt64](repeating: 0, count: ids.count)
      _ = expected.withUnsafeMutableBufferPointer {
        table.gather(ids, prior: (0.5, 2), words: $0.baseAddress!)
      }
      #expect(words == expected, "trial \(trial)")
    }
    #expect(fused >= 20, "dataset-index candidates take the fused path")
  }

  /// The fast duplicate checks (exact bitmap for small ids, hash-filtered for any) agree with an
  /// exact set on whether an id repeats, and `first(in:)` names the same id (the first position
  /// that repeats an earlier id), with and without repeats, including the id 0, for scattered ids
  /// and for dataset-index ids.
  @Test func duplicateCheckAgreesWithExactSet() {
    var rng = Xoshiro256(seed: 8)
    var bitmapTrials = 0
    for trial in 0..<300 {
      let n = 2 + rng.nextBelow(6_000)
      var ids =
        trial % 3 == 0
        ? (0..<n).map { _ in UInt64(rng.nextBelow(8 * n)) }
        : (0..<n).map { _ in rng.next() >> UInt64(rng.nextBelow(64)) }
      if trial % 3 == 0 {
        // Distinct dataset indices unless a repeat is planted below.
        ids = Array(Set(ids))
      }
      for _ in 0..<rng.nextBelow(3) {
        ids[rng.nextBelow(ids.count)] = ids[rng.nextBelow(ids.count)]
      }
      var seen = Set<UInt64>()
      let firstRepeat = ids.first { !seen.insert($0).inserted }
      ids.withUnsafeBufferPointer { p in
        #expect(Duplicates.filtered(p) == (firstRepeat != nil), "trial \(trial)")
        if let exact = Duplicates.bitmap(p) {
          bitmapTrials += 1
          #expect(exact == (firstRepeat != nil), "trial \(trial)")
        }
      }
      #expect(Duplicates.hashed(ids) == firstRepeat, "trial \(trial)")
      #expect(Duplicates.first(in: ids) == firstRepeat, "trial \(trial)")
    }
    #expect(bitmapTrials >= 100, "the dataset-index trials take the bitmap path")
  }

  /// The sampled-bar path (k well below n) equals a stable full sort, also when the evenly spaced
  /// sample holds the smallest keys so that too few survive the bar and it falls back.
  @Test func sampledBarSelectionMatchesFullSort() {
    var rng = Xoshiro256(seed: 13)
    for trial in 0..<80 {
      let n = 1_024 + rng.nextBelow(20_000)
      let k = max(1, n / [16, 40, 100, 300][trial % 4])
      var keys: [Float] = (0..<n).map { _ in Float(rng.nextOpenUnit() * 0.25) }
      if trial % 5 == 0 {
        for j in 0..<128 { keys[j * n / 128] = Float(j) * 1e-9 }  // adversarial: bar too low
      }
      if trial % 7 == 0 {
        for i in keys.indices where i % 3 == 0 { keys[i] = 0.125 }  // ties at the bar
      }
      let expected = keys.indices.sorted { keys[$0] < keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
      for kernel in Kernel.supported {
        #expect(
          kernel.smallest(k, of: keys) == Array(expected.prefix(k)), "\(kernel) trial \(trial) n \(n) k \(k)")
      }
    }
  }

  /// The nearest-to-target selection of every kernel variant (keys computed and compared with the
  /// bar in vector registers) equals a stable full sort of the squared distances, with ties, with
  /// samples equal to the target, and when the evenly spaced sample makes the bar too low.
  @Test func nearestSelectionMatchesFullSort() {
    var rng = Xoshiro256(seed: 15)
    for trial in 0..<80 {
      let n = 500 + rng.nextBelow(12_000)
      let k = max(1, n / [16, 40, 100, 3][trial % 4])
      let target = Float([0.5, 0.3, 0.9][trial % 3])
      var samples: [Float] = (0..<n).map { _ in Float(rng.nextOpenUnit()) }
      if trial % 5 == 0 {
        for j in 0..<128 { samples[j * n / 128] = target + Float(j) * 1e-7 }  // adversarial: bar too low
      }
      if trial % 7 == 0 {
        for i in samples.indices where i % 3 == 0 { samples[i] = target + 0.01 }  // ties
      }
      let keys = samples.map { ($0 - target) * ($0 - target) }
      let expected = keys.indices.sorted { keys[$0] < keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
      for kernel in Kernel.supported {
        #expect(
          kernel.nearest(k, to: target, samples: samples) == Array(expected.prefix(k)),
          "\(kernel) trial \(trial) n \(n) k \(k)")
      }
    }
  }

  /// The radix sort behind the sampled-bar path orders packed (key, position) values exactly as a
  /// comparison sort does, for positions needing one to three bytes and keys with many ties.
  @Test func radixSortMatchesComparisonSort() {
    var rng = Xoshiro256(seed: 14)
    for trial in 0..<60 {
      let n = [300, 70_000, 3_000_000][trial % 3]
      let count = 1 + rng.nextBelow(2_000)
      let values: [UInt64] = (0..<count).map { _ in
        let key = trial % 2 == 0 ? Float(rng.nextBelow(5)) * 0.01 : Float(rng.nextOpenUnit() * 0.25)
        return PartialSelection.pack(key, rng.nextBelow(n))
      }
      var sorted = values
      sorted.withUnsafeMutableBufferPointer { a in
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: count) { spare in
          PartialSelection.radixSort(a, positionsBelow: n, spare: spare)
        }
      }
      #expect(sorted == values.sorted(), "trial \(trial) n \(n) count \(count)")
      // Arriving in position order, only the key bytes are sorted; stability keeps equal keys in
      // position order.
      var byPosition = values.sorted { ($0 & 0xFFFF_FFFF) < ($1 & 0xFFFF_FFFF) }
      byPosition.withUnsafeMutableBufferPointer { a in
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: count) { spare in
          PartialSelection.radixSort(a, positionsBelow: n, spare: spare, inPositionOrder: true)
        }
      }
      #expect(byPosition == values.sorted(), "in position order: trial \(trial) n \(n) count \(count)")
    }
  }

  /// The histogram path of partial selection (n ≥ 512) equals a stable full sort, with ties and
  /// with keys spread over many magnitudes.
  @Test func histogramSelectionMatchesFullSort() {
    var rng = Xoshiro256(seed: 12)
    for trial in 0..<60 {
      let n = 512 + rng.nextBelow(8_000)
      let spread = trial % 3
      let keys: [Float] = (0..<n).map { _ in
        switch spread {
        case 0: return Float(rng.nextBelow(9))  // heavy ties
        case 1: return Float(rng.nextOpenUnit() * rng.nextOpenUnit() * 0.25)
        default: return Float(rng.nextOpenUnit()) * Float(1 << rng.nextBelow(40)) * 1e-9
        }
      }
      let k = 1 + rng.nextBelow(n)
      let expected = keys.indices.sorted { keys[$0] < keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
      for kernel in Kernel.supported {
        #expect(
          kernel.smallest(k, of: keys) == Array(expected.prefix(k)), "\(kernel) trial \(trial) n \(n) k \(k)")
      }
    }
  }
}
