/// A problem found by ``Decompressor``: what went wrong, where in the compressed bytes, and what to do.
///
/// ```swift
/// error.description
/// // "gzip data is corrupt at compressed byte 1234 (invalid stored block lengths); the file is damaged or not gzip"
/// ```
public struct DecompressionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable classification, safe to use as a metrics label.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: Sendable, Hashable {
            case corruptData, truncatedData, outputLimitExceeded, unsupported, resourceFailure, invalidUsage
        }

        private let kind: Kind

        private init(_ kind: Kind) {
            self.kind = kind
        }

        /// The compressed bytes are damaged, not in the expected format, or followed by garbage.
        public static let corruptData = Code(.corruptData)
        /// The input ended inside a gzip member or zstd frame.
        public static let truncatedData = Code(.truncatedData)
        /// One chunk decompressed to more than ``Decompressor/maxOutputPerCall`` bytes.
        public static let outputLimitExceeded = Code(.outputLimitExceeded)
        /// The data is valid but needs more than Gather allows (a zstd window over 128 MiB).
        public static let unsupported = Code(.unsupported)
        /// The compression library could not be set up or ran out of memory.
        public static let resourceFailure = Code(.resourceFailure)
        /// A chunk was fed after the last one.
        public static let invalidUsage = Code(.invalidUsage)

        /// A dotted identifier such as `"decompression.corrupt_data"`.
        public var description: String {
            switch kind {
            case .corruptData: return "decompression.corrupt_data"
            case .truncatedData: return "decompression.truncated_data"
            case .outputLimitExceeded: return "decompression.output_limit_exceeded"
            case .unsupported: return "decompression.unsupported"
            case .resourceFailure: return "decompression.resource_failure"
            case .invalidUsage: return "decompression.invalid_usage"
            }
        }
    }

    /// What kind of error this is.
    public var code: Code
    /// The compression being removed.
    public var compression: Compression
    /// A sentence saying what happened and what to do about it.
    public var message: String
    /// The 0-based offset in the compressed stream of the problem: for gzip, where zlib stopped, at or just
    /// after the damage; for zstd, the start of the range (at most 128 KiB, given in ``message``) that holds
    /// it; for truncation, the end of the input. `nil` when no position applies.
    public var offset: Int?

    /// Creates an error.
    public init(code: Code, compression: Compression, message: String, offset: Int? = nil) {
        self.code = code
        self.compression = compression
        self.message = message
        self.offset = offset
    }

    /// The ``message``.
    public var description: String { message }
}
