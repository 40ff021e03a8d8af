/// This process's resource use, from /proc (Linux); 0 where unavailable.
public enum ProcessInfoReader {
  /// Resident set size in bytes, from /proc/self/statm.
  public static func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0
    var resident = 0
    let read = withUnsafeMutablePointer(to: &size) { s in
      withUnsafeMutablePointer(to: &resident) { r in withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) } }
    }
    return read == 2 ? resident * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
  }
}
