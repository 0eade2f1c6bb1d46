import GatherCore
public import GatherStore

/// A byte range of one file that starts and ends at record boundaries: the unit a load spread over many hosts
/// hands out (``FileLoader/blocks(of:context:_:)`` finds them, ``FileLoader/batch(for:context:)`` reads one).
///
/// A block starts where the checkpoint before it says (the file's start when `start` is `nil`: the CSV header
/// is read there, and later blocks carry its field names in their checkpoint) and ends after the record its
/// `end` checkpoint counts. Reading from a checkpoint is how an interrupted load resumes, so a block reads the
/// same records, quoted newlines and all, as the one pass that found it.
public struct FileBlock: Sendable, Hashable {
    public var file: LoadFile
    public var start: LoadCheckpoint?
    public var end: LoadCheckpoint

    public init(file: LoadFile, start: LoadCheckpoint?, end: LoadCheckpoint) {
        self.file = file
        self.start = start
        self.end = end
    }
}

extension LoadCheckpoint {
    /// Whether a reader at this checkpoint has read everything `end` covers: the file is done, or both its
    /// offset and its records count have reached `end`'s (a JSON document's offset stays 0; its records count).
    func reaches(_ end: LoadCheckpoint) -> Bool {
        self.done || (self.offset >= end.offset && self.records >= end.records)
    }
}

extension FileLoader {
    /// Reads `file` once, without writing, and hands `each` its blocks in order: one per unit the loader would
    /// commit (``LoadOptions/blockRows`` rows or ``LoadOptions/blockBytes`` bytes), an empty last unit folded
    /// into the block before it. The same file and options always give the same blocks.
    ///
    /// - Returns: `false` when the loader was stopped part way: the blocks handed over are right, but the rest
    ///   of the file was not read.
    @discardableResult
    public func blocks(
        of file: LoadFile, context: LoadContext, _ each: (FileBlock) async throws -> Void
    ) async throws -> Bool {
        var pending: FileBlock?
        var last: LoadCheckpoint?
        return try await withoutActuallyEscaping(each) { each in
            let result = try await self.read(file, context: context, resume: nil) { unit in
                if var block = pending, unit.records == 0 {
                    block.end = unit.checkpoint
                    pending = block
                } else {
                    if let pending { try await each(pending) }
                    pending = FileBlock(file: file, start: last, end: unit.checkpoint)
                }
                last = unit.checkpoint
            }
            if case .stopped = result.status { return false }
            try await each(
                pending
                    ?? FileBlock(
                        file: file, start: nil,
                        end: LoadCheckpoint(table: file.table, offset: 0, line: 1, records: 0, fields: nil, done: true)
                    ))
            return true
        }
    }

    /// Reads one block: its rows, error rows and counts as one batch (with the records read and the rows written), with no checkpoint (the caller commits it with
    /// whatever proves the block is its to write, such as a coordinator's fence).
    ///
    /// - Throws: ``FileError`` when the loader was stopped before the block's end: part of a block is never
    ///   handed over as if it were all of it.
    public func batch(for block: FileBlock, context: LoadContext) async throws
        -> (batch: SinkBatch, records: Int, rows: Int)
    {
        var batch = SinkBatch()
        let result = try await self.read(block.file, context: context, resume: block.start, until: block.end) {
            unit in
            let part = self.batch(for: unit, context: context)
            batch.writes += part.writes
            batch.errors += part.errors
            batch.counts += part.counts
        }
        if case .stopped = result.status {
            throw FileError("stopped inside block of \(block.file.path) at line \(block.start?.line ?? 1)")
        }
        return (batch, result.records, result.rows)
    }
}
