import GatherCore

/// What became of one record that went through transforms (a pipeline's steps, in any kind of resource).
public enum RecordTransformResult: Sendable {
    /// Write these records (usually one; `explode` and `select` can make more, or none).
    case records([Record])
    /// A filter removed it.
    case filtered
    /// A step failed; it becomes an error row with this code and message (the message names the step).
    case failed(code: String, message: String)
}
