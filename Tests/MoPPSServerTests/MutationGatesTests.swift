import Dispatch
import Foundation
import Testing

@testable import MoPPSPersistence
@testable import MoPPSServer

@Suite struct MutationGatesTests {
  /// While one pool's lock is held: the broker's non-waiting attempt on that pool gets nil at once,
  /// another pool's goes through, and the snapshot gate waits until the holder is done.
  @Test func onePoolsLockHoldsUpOnlyThatPool() throws {
    let gates = MutationGates()
    let holding = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    Thread {
      gates.withPool("big") {
        holding.signal()
        release.wait()
      }
      done.signal()
    }.start()
    holding.wait()
    #expect(gates.withPool("big", wait: false) { 1 } == nil)
    #expect(gates.withPool("small", wait: false) { 2 } == 2)
    #expect(gates.withPool("small") { 3 } == 3)
    let snapshotted = DispatchSemaphore(value: 0)
    Thread {
      gates.withAll {}
      snapshotted.signal()
    }.start()
    #expect(snapshotted.wait(timeout: .now() + .milliseconds(100)) == .timedOut)
    release.signal()
    done.wait()
    #expect(snapshotted.wait(timeout: .now() + .seconds(10)) == .success)
    #expect(gates.withPool("big", wait: false) { 4 } == 4)
  }
}
