import MoPPSEngine

/// Why the store did not carry out a request: the engine's rules refused it (bad input, an unknown
/// pool, a limit), or the state directory failed. The server turns either into a status code.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
  case refused(MoPPSError)
  case storage(PersistenceError)

  public var description: String {
    switch self {
    case .refused(let error): error.description
    case .storage(let error): error.description
    }
  }
}

/// Runs engine work inside a store operation, its refusals passed on as `StoreError.refused`.
@inline(__always)
func refusing<T>(_ body: () throws(MoPPSError) -> T) throws(StoreError) -> T {
  do { return try body() } catch { throw .refused(error) }
}

/// Runs disk work inside a store operation, its failures passed on as `StoreError.storage`.
@inline(__always)
func storing<T>(_ body: () throws(PersistenceError) -> T) throws(StoreError) -> T {
  do { return try body() } catch { throw .storage(error) }
}
