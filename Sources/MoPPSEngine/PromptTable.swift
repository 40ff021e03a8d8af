import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The prompts of one pool: ids and (α, β) posteriors by slot, and an id → slot hash map.
///
/// Readers never block and never see a torn pair:
/// - Slots live in fixed-capacity segments that are allocated once and never move, so growth does
///   not invalidate a reader's pointers.
/// - Each posterior is two Float32 packed into one 64-bit atomic word, changed by compare-exchange.
/// - The map is open addressing over 32-bit slot numbers (probing compares the slot's id), grown by
///   building a new table and publishing it with one atomic store. A table replaced while readers
///   may hold it is freed only once no reader is in flight (readers announce themselves in
///   `readersInFlight` before loading the table pointer).
///
/// Writers (new ids) are serialised by the caller (`Pool`'s writer lock); updates to existing
/// slots are lock-free. 16 bytes a prompt plus 4–8 bytes of map.
final class PromptTable: @unchecked Sendable {
  static let segmentShift = 16
  static let segmentSize = 1 << segmentShift
  static let maxSegments = 1 << 14
  /// The most prompts a pool holds (2^30): the directory's segments times their size.
  static let capacity = maxSegments << segmentShift
  static let maxLoad = 0.75

  /// The most prompts this table takes: `capacity`, or less for tests of a full pool (which could
  /// not allocate 2^30 prompts). Writers check it before appending (`Pool.ensureRoom`).
  let limit: Int

  /// Segment pointers; each segment holds `segmentSize` posterior words, then as many ids.
  private let directory: UnsafeMutablePointer<Atomic<UnsafeMutableRawPointer?>>
  /// Slots [0, count) are published: their id, posterior and map entry are in place.
  private let published = Atomic<Int>(0)
  /// The current map: a header word (capacity) followed by `capacity` UInt32 entries, slot + 1 or 0.
  private let map = Atomic<UnsafeMutableRawPointer?>(nil)
  private let readersInFlight = Atomic<Int>(0)
  /// Slots [0, denseEnd) hold the ids 0, 1, 2, … in order: prompts registered by dataset index, as
  /// the verl and TRL plug-ins do. Those ids resolve to their slot without touching the map.
  private let denseEnd = Atomic<Int>(0)
  /// Writer-only state (guarded by the caller's lock).
  private var retired: [UnsafeMutableRawPointer] = []
  private var segmentCount = 0

  init(limit: Int = PromptTable.capacity) {
    precondition(limit > 0 && limit <= Self.capacity, "prompt limit \(limit) outside 1...\(Self.capacity)")
    self.limit = limit
    // Zeroed memory is a valid array of atomics holding nil / 0 (they are plain words), and calloc
    // leaves untouched pages unmapped.
    directory = calloc(Self.maxSegments, 8)!.bindMemory(
      to: Atomic<UnsafeMutableRawPointer?>.self, capacity: Self.maxSegments)
    map.store(Self.newMap(capacity: 1024), ordering: .relaxed)
  }

  deinit {
    for s in 0..<segmentCount { free(directory[s].load(ordering: .relaxed)) }
    free(directory)
    free(map.load(ordering: .relaxed))
    for t in retired { free(t) }
  }

  var count: Int {
    // Acquiring: a reader that sees count n also sees the ids and posteriors of slots < n.
    published.load(ordering: .acquiring)
  }

  // MARK: Slots

  @inline(__always)
  private func segment(_ slot: Int) -> UnsafeMutableRawPointer {
    // Acquiring pairs with the releasing store that published the segment.
    directory[slot >> Self.segmentShift].load(ordering: .acquiring).unsafelyUnwrapped
  }

  @inline(__always)
  private func word(_ slot: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
    segment(slot).assumingMemoryBound(to: Atomic<UInt64>.self) + (slot & (Self.segmentSize - 1))
  }

  @inline(__always)
  func id(_ slot: Int) -> UInt64 {
    let ids = segment(slot) + Self.segmentSize * MemoryLayout<UInt64>.stride
    return ids.assumingMemoryBound(to: UInt64.self)[slot & (Self.segmentSize - 1)]
  }

  @inline(__always)
  static func pack(_ alpha: Float, _ beta: Float) -> UInt64 {
    UInt64(alpha.bitPattern) << 32 | UInt64(beta.bitPattern)
  }

  @inline(__always)
  static func unpack(_ w: UInt64) -> (alpha: Float, beta: Float) {
    (Float(bitPattern: UInt32(truncatingIfNeeded: w >> 32)), Float(bitPattern: UInt32(truncatingIfNeeded: w)))
  }

  /// The posterior of a published slot; one atomic load, so never torn.
  @inline(__always)
  func posterior(_ slot: Int) -> (alpha: Float, beta: Float) {
    // Relaxed: the pair is one word, and the slot's publication was already acquired via the map
    // or `count`.
    Self.unpack(word(slot).pointee.load(ordering: .relaxed))
  }

  /// Replaces a slot's posterior by `transform(old)` atomically (compare-exchange loop), so
  /// concurrent updates of one prompt are never lost. Returns the new value.
  @inline(__always)
  func modify(_ slot: Int, _ transform: (Float, Float) -> (Float, Float)) -> (alpha: Float, beta: Float) {
    let w = word(slot)
    var old = w.pointee.load(ordering: .relaxed)
    while true {
      let (a, b) = Self.unpack(old)
      let new = transform(a, b)
      // Relaxed suffices: each word is independent and carries no other data with it.
      let (exchanged, current) = w.pointee.compareExchange(
        expected: old, desired: Self.pack(new.0, new.1), ordering: .relaxed)
      if exchanged { return new }
      old = current
    }
  }

  /// Overwrites a slot's posterior (restore, tests).
  func set(_ slot: Int, alpha: Float, beta: Float) {
    word(slot).pointee.store(Self.pack(alpha, beta), ordering: .relaxed)
  }

  /// The posterior words of slots [first, first + count) — within one segment.
  func words(from first: Int, count: Int) -> UnsafeBufferPointer<Atomic<UInt64>> {
    precondition(first & (Self.segmentSize - 1) + count <= Self.segmentSize)
    return UnsafeBufferPointer(start: word(first), count: count)
  }

  // MARK: Map

  private static func newMap(capacity: Int) -> UnsafeMutableRawPointer {
    let raw = calloc(8 + 4 * capacity, 1)!
    raw.storeBytes(of: capacity, as: Int.self)
    (raw + 8).bindMemory(to: Atomic<UInt32>.self, capacity: capacity)
    return raw
  }

  /// One map table seen through its header: the capacity (a power of two) and the entries.
  struct MapView {
    let raw: UnsafeMutableRawPointer
    let capacity: Int
    let entries: UnsafeMutablePointer<Atomic<UInt32>>

    @inline(__always)
    init(_ raw: UnsafeMutableRawPointer) {
      self.raw = raw
      capacity = raw.load(as: Int.self)
      entries = (raw + 8).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Bytes of the table, header included.
    var bytes: Int { 8 + 4 * capacity }
  }

  /// Runs `body` with the current map as a reader: announced in `readersInFlight` first, so that a
  /// table it might hold is not freed under it, and never blocking.
  @inline(__always)
  private func withReaderMap<R>(_ body: (MapView) throws -> R) rethrows -> R {
    // Sequentially consistent, pairing with the writer's store-then-check in `reclaim`: either the
    // writer sees this reader, or this reader loads the new table.
    readersInFlight.add(1, ordering: .sequentiallyConsistent)
    defer { readersInFlight.subtract(1, ordering: .releasing) }
    return try body(MapView(map.load(ordering: .sequentiallyConsistent).unsafelyUnwrapped))
  }

  /// The current map as the writer sees it: the writer alone replaces tables, so it needs no
  /// announcement, and relaxed loads see its own stores.
  private var writerMap: MapView { MapView(map.load(ordering: .relaxed).unsafelyUnwrapped) }

  /// The slot of `id` in `view` (probing from its home position), or nil. A reader's entry loads
  /// acquire, pairing with the releasing store that published the entry after its slot; the writer
  /// reads its own stores, relaxed.
  @inline(__always)
  private func probe(_ id: UInt64, in view: MapView, reader: Bool) -> Int? {
    var i = Self.home(id, view.capacity)
    while true {
      let e = reader ? view.entries[i].load(ordering: .acquiring) : view.entries[i].load(ordering: .relaxed)
      if e == 0 { return nil }
      let slot = Int(e - 1)
      if self.id(slot) == id { return slot }
      i = (i + 1) & (view.capacity - 1)
    }
  }

  @inline(__always)
  private static func home(_ id: UInt64, _ capacity: Int) -> Int {
    // Fibonacci hashing: sequential ids spread evenly; capacity is a power of two.
    // `&>>`: capacity ≥ 1024, so the shift is below 64 and needs no range check.
    Int(truncatingIfNeeded: (id &* 0x9E37_79B9_7F4A_7C15) &>> UInt64(64 - capacity.trailingZeroBitCount))
  }

  /// Runs `body` with a lookup function valid for its duration. Readers never block: they only
  /// announce themselves so that a table they might hold is not freed under them.
  @inline(__always)
  func withLookup<R>(_ body: ((UInt64) -> Int?) throws -> R) rethrows -> R {
    try withReaderMap { view in
      // Acquiring pairs with the releasing store in `append`.
      let dense = UInt64(denseEnd.load(ordering: .acquiring))
      return try body { id in
        if id < dense { return Int(id) }
        return self.probe(id, in: view, reader: true)
      }
    }
  }

  /// Looks up many ids at once, writing the posterior (or `prior`) of each into `alpha`/`beta` and
  /// returning how many were known.
  ///
  /// Built for memory-level parallelism: probe round r looks at position home + r for every id still
  /// unresolved, first loading all their map entries (independent loads), then checking ids and
  /// posteriors without branches, compacting the unresolved ones into the next round's list. A
  /// branch on "is this the right entry" would be mispredicted for the ~40 % of ids that linear
  /// probing displaces from their home position, and every misprediction would wait for a cache
  /// miss; loads issued together overlap their misses instead (docs/performance.md).
  func gather(
    _ ids: [UInt64], prior: (Float, Float), alpha: UnsafeMutablePointer<Float>,
    beta: UnsafeMutablePointer<Float>
  ) -> Int {
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ids.count) { words in
      let found = gather(ids, prior: prior, words: words.baseAddress!)
      for j in 0..<ids.count { (alpha[j], beta[j]) = Self.unpack(words[j]) }
      return found
    }
  }

  /// `gather` into packed posterior words (α in the high half), the form the sampler reads.
  func gather(_ ids: [UInt64], prior: (Float, Float), words: UnsafeMutablePointer<UInt64>) -> Int {
    let n = ids.count
    guard n > 0 else { return 0 }
    return withReaderMap { view in gather(ids, prior: prior, words: words, view) }
  }

  private func gather(
    _ ids: [UInt64], prior: (Float, Float), words: UnsafeMutablePointer<UInt64>, _ view: MapView
  ) -> Int {
    let n = ids.count
    let (capacity, entries) = (view.capacity, view.entries)
    let priorWord = Self.pack(prior.0, prior.1)
    // Slot 0 stands in for an empty entry so that every lane loads something valid; an empty pool
    // has no slot 0, and every id in it is unknown.
    guard count > 0 else {
      words.initialize(repeating: priorWord, count: n)
      return 0
    }
    // Acquiring pairs with the releasing store in `append`.
    let denseNow = denseEnd.load(ordering: .acquiring)
    if let found = gatherDense(ids, below: denseNow, words: words) { return found }
    return ids.withUnsafeBufferPointer { ids in
      withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 3 * n) { scratch in
        var found = 0
        let entry = scratch.baseAddress!
        var pending = entry + n
        var unresolved = entry + 2 * n
        var m = 0
        let dense = UInt64(denseNow)
        // Worth a pass only when a good share of the pool is dense (a pool of hashed ids usually
        // has a dense prefix of 0 or 1).
        if dense > 0 && dense >= UInt64(count / 4) {
          // Ids below `dense` are their own slot; the rest go on to the probe rounds. No branch,
          // because candidate lists may mix both kinds (unknown ids among dataset indices).
          for j in 0..<n {
            let hit = Self.bit(ids[j] < dense)
            let w = word(Int(truncatingIfNeeded: ids[j]) & (0 &- hit)).pointee.load(ordering: .relaxed)
            words[j] = Self.choose(w, or: priorWord, hit)
            found &+= hit
            pending[m] = UInt32(truncatingIfNeeded: j)
            m &+= 1 &- hit
          }
        } else {
          for j in 0..<n { pending[j] = UInt32(truncatingIfNeeded: j) }
          m = n
        }
        let single: UnsafeMutableRawPointer? = count <= Self.segmentSize ? segment(0) : nil
        var round = 0
        while m > 0 {
          for q in 0..<m {
            let position = (Self.home(ids[Int(pending[q])], capacity) &+ round) & (capacity &- 1)
            // Acquiring pairs with the releasing store that published the entry after the slot.
            entry[q] = entries[position].load(ordering: .acquiring)
          }
          var next = 0
          for q in 0..<m {
            let j = Int(pending[q])
            let e = entry[q]
            let empty = Self.bit(e == 0)
            let slot = Int(e) &- 1 &+ empty
            // One directory load serves both the id and the posterior (none in a one-segment pool).
            let seg = single ?? segment(slot)
            let offset = slot & (Self.segmentSize - 1)
            let stored = (seg + Self.segmentSize * 8).assumingMemoryBound(to: UInt64.self)[offset]
            let hit = Self.bit(stored == ids[j]) & (1 &- empty)
            // Relaxed: the pair is one word, and the entry's publication was acquired above.
            let w = (seg.assumingMemoryBound(to: Atomic<UInt64>.self) + offset).pointee.load(
              ordering: .relaxed)
            // An unresolved id's word is still the prior, so this never loses an earlier hit.
            words[j] = Self.choose(w, or: priorWord, hit)
            found &+= hit
            unresolved[next] = UInt32(truncatingIfNeeded: j)
            next &+= (1 &- hit) & (1 &- empty)
          }
          swap(&pending, &unresolved)
          m = next
          round += 1
        }
        return found
      }
    }
  }

  /// The gather of candidates that are all dataset indices below `dense` (the verl and TRL
  /// plug-ins' case): each id is its own slot, one load per id, no map. Nil, having written nothing
  /// that matters, when some id is not below `dense`; the caller then takes the general path.
  private func gatherDense(_ ids: [UInt64], below dense: Int, words: UnsafeMutablePointer<UInt64>) -> Int? {
    guard dense > 0, ids.withUnsafeBufferPointer({ Self.all($0, below: dense) }) else { return nil }
    _ = fillDense(ids, below: dense, words: words, seen: nil)
    return ids.count
  }

  /// The loads of `gatherDense`, for ids all below `dense`. With `seen` (a zeroed bitmap over
  /// [0, dense)), also marks each id there and returns whether all were distinct; true without.
  private func fillDense(
    _ ids: [UInt64], below dense: Int, words: UnsafeMutablePointer<UInt64>,
    seen: UnsafeMutablePointer<UInt64>?
  ) -> Bool {
    var again: UInt64 = 0
    ids.withUnsafeBufferPointer { ids in
      // Relaxed loads: each word is self-contained; `dense` was acquired after the slots were
      // published.
      @inline(__always) func fill(_ at: (Int) -> UnsafeMutablePointer<Atomic<UInt64>>) {
        if let seen {
          for j in 0..<ids.count {
            let id = ids[j]
            again |= Duplicates.mark(id, in: seen)
            words[j] = at(Int(truncatingIfNeeded: id)).pointee.load(ordering: .relaxed)
          }
        } else {
          for j in 0..<ids.count {
            words[j] = at(Int(truncatingIfNeeded: ids[j])).pointee.load(ordering: .relaxed)
          }
        }
      }
      if dense <= Self.segmentSize {
        // One segment: no directory load per id.
        let base = word(0)
        fill { base + $0 }
      } else {
        fill { self.word($0) }
      }
    }
    return again == 0
  }

  /// `gather` for a request whose ids must not repeat: false when some id does (the caller then
  /// names it with `Duplicates.first`).
  ///
  /// Candidates that are all dataset indices (the plug-ins' case) are checked in the same pass as
  /// their loads, on a bitmap over the dense range, rather than in a pass of their own; other lists
  /// are checked by `Duplicates.first`.
  func gatherDistinct(_ ids: [UInt64], prior: (Float, Float), words: UnsafeMutablePointer<UInt64>) -> Bool {
    // Acquiring pairs with the releasing store in `append`.
    let dense = denseEnd.load(ordering: .acquiring)
    // Only where the pool is mostly dense (registered by index) are the candidates likely to be
    // all below `dense`; elsewhere the check would be a wasted pass.
    let fused =
      ids.count > 1 && dense > 0 && dense <= 64 * ids.count && 2 * dense >= count
      && ids.withUnsafeBufferPointer { Self.all($0, below: dense) }
    guard fused else {
      _ = gather(ids, prior: prior, words: words)
      return Duplicates.first(in: ids) == nil
    }
    return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: (dense + 63) >> 6) { seen in
      seen.initialize(repeating: 0)
      return fillDense(ids, below: dense, words: words, seen: seen.baseAddress!)
    }
  }

  /// Whether every id is below `bound` (≤ 2⁶³). In 64-bit integer arithmetic only, which
  /// vectorises without the 64-bit vector compares that baseline x86-64 lacks: for id < 2⁶³ the top
  /// bit of id − bound is set exactly when id < bound, and ~id masks out ids of 2⁶³ and more.
  @inline(__always)
  private static func all(_ ids: UnsafeBufferPointer<UInt64>, below bound: Int) -> Bool {
    let b = UInt64(truncatingIfNeeded: bound)
    var inside = UInt64.max
    for id in ids { inside &= (id &- b) & ~id }
    return inside >> 63 == 1
  }

  /// 0 or 1, without a branch.
  @inline(__always)
  private static func bit(_ b: Bool) -> Int { Int(unsafeBitCast(b, to: UInt8.self)) }

  /// `word` when `hit` is 1, `fallback` when it is 0, by masks rather than a branch.
  @inline(__always)
  private static func choose(_ word: UInt64, or fallback: UInt64, _ hit: Int) -> UInt64 {
    let keep = 0 &- UInt64(truncatingIfNeeded: hit)
    return (word & keep) | (fallback & ~keep)
  }

  /// Lookup for the writer (who alone replaces tables, so needs no reader announcement).
  func writerLookup(_ id: UInt64) -> Int? {
    if id < UInt64(denseEnd.load(ordering: .relaxed)) { return Int(id) }
    return probe(id, in: writerMap, reader: false)
  }

  /// Appends a prompt. Caller holds the writer lock and has checked that `id` is absent and that
  /// the table has room (`count < limit`: a pool's public paths refuse a request that would pass
  /// it before changing anything, so reaching the precondition is a bug in the engine).
  func append(_ id: UInt64, alpha: Float, beta: Float) {
    let slot = published.load(ordering: .relaxed)
    precondition(slot < limit, "append beyond the table's limit of \(limit) prompts")
    if slot >> Self.segmentShift == segmentCount {
      let bytes = Self.segmentSize * (MemoryLayout<UInt64>.stride * 2)
      let seg = malloc(bytes)!
      seg.bindMemory(to: Atomic<UInt64>.self, capacity: Self.segmentSize)
      // Releasing: readers that load the pointer see the allocated memory.
      directory[segmentCount].store(seg, ordering: .releasing)
      segmentCount += 1
    }
    let ids = segment(slot) + Self.segmentSize * MemoryLayout<UInt64>.stride
    ids.assumingMemoryBound(to: UInt64.self)[slot & (Self.segmentSize - 1)] = id
    (segment(slot).assumingMemoryBound(to: Atomic<UInt64>.self) + (slot & (Self.segmentSize - 1)))
      .initialize(to: Atomic(Self.pack(alpha, beta)))

    var table = writerMap
    if Double(slot + 1) > Self.maxLoad * Double(table.capacity) {
      table = grow(table, slots: slot)
    }
    insert(slot, id: id, into: table)
    // Releasing: readers that see the new count also see everything written above.
    published.store(slot + 1, ordering: .releasing)
    if id == UInt64(slot) && denseEnd.load(ordering: .relaxed) == slot {
      // Releasing, for the same reason: a reader that resolves id < denseEnd by arithmetic alone
      // must see that slot's posterior.
      denseEnd.store(slot + 1, ordering: .releasing)
    }
  }

  private func insert(_ slot: Int, id: UInt64, into table: MapView) {
    var i = Self.home(id, table.capacity)
    while table.entries[i].load(ordering: .relaxed) != 0 { i = (i + 1) & (table.capacity - 1) }
    // Releasing: a reader that finds this entry also sees the slot's id and posterior.
    table.entries[i].store(UInt32(slot + 1), ordering: .releasing)
  }

  /// A table twice the size holding slots [0, slots), published in place of `old`.
  private func grow(_ old: MapView, slots: Int) -> MapView {
    let table = MapView(Self.newMap(capacity: old.capacity * 2))
    for s in 0..<slots { insert(s, id: id(s), into: table) }
    map.store(table.raw, ordering: .sequentiallyConsistent)
    retired.append(old.raw)
    reclaim()
    return table
  }

  /// Frees replaced tables when no reader is in flight; otherwise keeps them for a later try.
  func reclaim() {
    guard !retired.isEmpty else { return }
    if readersInFlight.load(ordering: .sequentiallyConsistent) == 0 {
      for t in retired { free(t) }
      retired.removeAll()
    }
  }

  /// Bytes held (segments, map, retired maps), for memory reports.
  var allocatedBytes: Int {
    segmentCount * Self.segmentSize * 16 + writerMap.bytes + retired.reduce(0) { $0 + MapView($1).bytes }
  }
}
