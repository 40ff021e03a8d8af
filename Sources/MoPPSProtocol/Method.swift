import MoPPSEngine

/// The Selector service's methods, by their gRPC-style path ("/mopps.v1.Selector/Select").
public enum Method: String, CaseIterable, Sendable {
  case createPool = "CreatePool"
  case dropPool = "DropPool"
  case listPools = "ListPools"
  case register = "Register"
  case select = "Select"
  case update = "Update"
  case get = "Get"
  case snapshot = "Snapshot"
  case restore = "Restore"
  case listSnapshots = "ListSnapshots"
  case importState = "Import"
  case exportState = "Export"
  case stats = "Stats"
  case health = "Health"

  public static let servicePrefix = "/mopps.v1.Selector/"

  public var path: String { Self.servicePrefix + rawValue }

  /// The method a request frame names, or nil when it names none of ours.
  public init?(path: [UInt8]) {
    let prefix = Array(Self.servicePrefix.utf8)
    guard path.count > prefix.count, path.starts(with: prefix),
      let name = String(validating: path[prefix.count...], as: UTF8.self)
    else { return nil }
    self.init(rawValue: name)
  }
}

/// Event topics on the PUB socket; subscribers filter by prefix, e.g. "mopps.v1.math." for one pool.
public enum Topic {
  public static func select(pool: String) -> String { "mopps.v1.\(pool).select" }
  public static func update(pool: String) -> String { "mopps.v1.\(pool).update" }
}
