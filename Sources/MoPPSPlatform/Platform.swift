// The C library of the platform, imported once here so that no other module outside the engine
// repeats the `#if canImport` ladder: `import MoPPSPlatform` brings POSIX (open, errno, flock, …).
#if canImport(Glibc)
  @_exported import Glibc
#elseif canImport(Musl)
  @_exported import Musl
#elseif canImport(Darwin)
  @_exported import Darwin
#endif

/// The C library's text for an errno value (`strerror`), e.g. "No space left on device".
public func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Closes a descriptor; for types whose own `close()` method hides the C function.
@inline(__always)
public func closeDescriptor(_ fd: Int32) { _ = close(fd) }
