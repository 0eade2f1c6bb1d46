/// Why a ``FlowController`` did not grant a permit.
public struct FlowControlError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The key whose limits held the request back.
    public var key: String
    /// How long the request waited for admission before giving up.
    public var waited: Duration

    public var description: String {
        "no permit for \(self.key) within the admission timeout (waited \(self.waited)): "
            + "raise the timeout, or lower the load on this key"
    }
}
