import MoPPSEngine
import MoPPSPersistence
import MoPPSProtocol

/// What a client is told when the state directory fails: the store says what went wrong, the server
/// decides which status that is.
extension PersistenceError {
  var status: StatusCode {
    switch kind {
    case .io: .internal
    case .damaged: .dataLoss
    // A full disk is worth a retry once there is room; anything else the operator must look at.
    case .logWrite: isDiskFull ? .resourceExhausted : .unavailable
    case .logUnusable: .unavailable
    case .notFound: .notFound
    case .noDirectory: .failedPrecondition
    }
  }
}

extension StoreError {
  /// The refusal as the dispatcher replies it.
  var reply: MoPPSError {
    switch self {
    case .refused(let error): error
    case .storage(let error): MoPPSError(error.status, error.message)
    }
  }
}

/// Runs a store operation, its errors turned into the status and message a reply carries.
@inline(__always)
func stored<T>(_ body: () throws(StoreError) -> T) throws(MoPPSError) -> T {
  do { return try body() } catch { throw error.reply }
}

extension SnapshotInfo {
  init(_ s: StoredSnapshot) {
    self.init(
      pool: s.pool, tag: s.tag, lsn: s.lsn, created: s.created, promptCount: s.promptCount, bytes: s.bytes)
  }
}
