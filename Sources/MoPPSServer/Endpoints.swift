import MoPPSPlatform

/// Whether a tcp endpoint can be reached only from this machine.
///
/// libzmq's tcp endpoints are `tcp://[source;]address:port`, where a bind listens on the part after
/// ";" and `address` is `*`, an IPv4 literal, a bracketed IPv6 literal or an interface name (libzmq
/// does not use DNS for a bind; a host name is still resolved here, so that a name counts as loopback
/// only if it is one wherever it is looked up). A bind counts as loopback only when every address it
/// could take is a loopback address; an interface without addresses is not.
/// `Server` also checks the address actually bound (ZMQ_LAST_ENDPOINT), so a form this parser does
/// not foresee still cannot open the sidecar to the network.
enum Endpoints {
  /// The address part of a tcp endpoint a bind listens on: after "tcp://" and any "source;", without
  /// the port and the brackets of an IPv6 literal.
  static func tcpBindHost(_ endpoint: String) -> Substring {
    var rest = endpoint.dropFirst("tcp://".count)
    if let semicolon = rest.lastIndex(of: ";") { rest = rest[rest.index(after: semicolon)...] }
    if rest.hasPrefix("[") {
      return rest.dropFirst().prefix { $0 != "]" }
    }
    guard let colon = rest.lastIndex(of: ":") else { return rest }
    return rest[..<colon]
  }

  static func isLoopback(_ endpoint: String) -> Bool {
    let host = String(tcpBindHost(endpoint))
    if host.isEmpty || host == "*" { return false }
    if let literal = numericLoopback(host) { return literal }
    if let interface = interfaceLoopback(host) { return interface }
    return resolvedLoopback(host)
  }

  /// nil when `host` is not a numeric IPv4 or IPv6 address.
  static func numericLoopback(_ host: String) -> Bool? {
    var v4 = in_addr()
    if inet_pton(AF_INET, host, &v4) == 1 { return isLoopback(v4) }
    var v6 = in6_addr()
    // A zone suffix ("fe80::1%eth0") names a link, never loopback.
    let bare = host.split(separator: "%", maxSplits: 1).first.map(String.init) ?? host
    if inet_pton(AF_INET6, bare, &v6) == 1 { return bare == host && isLoopback(v6) }
    return nil
  }

  private static func isLoopback(_ a: in_addr) -> Bool {
    UInt32(bigEndian: a.s_addr) >> 24 == 127
  }

  private static func isLoopback(_ a: in6_addr) -> Bool {
    let bytes = withUnsafeBytes(of: a) { Array($0) }
    if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }  // ::1
    // IPv4-mapped ::ffff:127.x.y.z
    return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
  }

  private static func isLoopback(_ address: UnsafePointer<sockaddr>) -> Bool {
    switch Int32(address.pointee.sa_family) {
    case AF_INET:
      return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { isLoopback($0.pointee.sin_addr) }
    case AF_INET6:
      return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
        isLoopback($0.pointee.sin6_addr)
      }
    default:
      return false
    }
  }

  /// nil when no interface is called `name`; else whether all its IP addresses are loopback.
  private static func interfaceLoopback(_ name: String) -> Bool? {
    var list: UnsafeMutablePointer<ifaddrs>? = nil
    guard getifaddrs(&list) == 0 else { return nil }
    defer { freeifaddrs(list) }
    var found = false
    var addresses = 0
    var allLoopback = true
    var next = list
    while let entry = next {
      defer { next = entry.pointee.ifa_next }
      guard String(cString: entry.pointee.ifa_name) == name else { continue }
      found = true
      guard let address = entry.pointee.ifa_addr else { continue }
      let family = Int32(address.pointee.sa_family)
      guard family == AF_INET || family == AF_INET6 else { continue }
      addresses += 1
      if !isLoopback(UnsafePointer(address)) { allLoopback = false }
    }
    return found ? allLoopback && addresses > 0 : nil
  }

  /// Whether `host` resolves, and only to loopback addresses.
  private static func resolvedLoopback(_ host: String) -> Bool {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    #if canImport(Glibc)
      hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    #else
      hints.ai_socktype = SOCK_STREAM
    #endif
    var result: UnsafeMutablePointer<addrinfo>? = nil
    guard getaddrinfo(host, nil, &hints, &result) == 0, result != nil else { return false }
    defer { freeaddrinfo(result) }
    var next = result
    while let entry = next {
      defer { next = entry.pointee.ai_next }
      guard let address = entry.pointee.ai_addr, isLoopback(UnsafePointer(address)) else { return false }
    }
    return true
  }
}

extension Endpoints {
  /// Whether a process accepts connections on the Unix socket at `path`.
  static func socketAnswers(_ path: String) -> Bool {
    var st = stat()
    guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return false }
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      raw.copyBytes(from: bytes)
      raw[bytes.count] = 0
    }
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    return connected == 0
  }
}
