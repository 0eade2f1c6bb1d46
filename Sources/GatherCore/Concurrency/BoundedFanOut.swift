/// Runs `transform` over `inputs` with at most `maxConcurrency` calls in flight, and hands each result to
/// `consume`, one at a time, in the calling task.
///
/// This is the engine under ``Swift/Sequence/concurrentMap(maxConcurrency:ordered:_:)`` and `gather fetch`:
/// - at most `maxConcurrency` transforms run at once, and the input is pulled only as slots free up, so memory
///   does not grow with the length of the input;
/// - with `ordered`, results reach `consume` in input order; a bounded reorder window (`reorderWindow`, at least
///   `maxConcurrency`) holds early finishers, and no new input starts while the oldest unfinished item would be
///   more than the window behind; with `bufferLimit`, no new input starts either while the results held for
///   reordering weigh more than `bufferLimit.bytes` by `bufferLimit.weight` (bytes, say);
/// - when `consume` throws or the task is cancelled, the in-flight transforms are cancelled and the error is
///   rethrown.
///
/// ```swift
/// try await forEachConcurrently(urls.async, maxConcurrency: 64, ordered: true) { url in
///     await fetch(url)
/// } consume: { result in
///     print(result)
/// }
/// ```
@inlinable
public func forEachConcurrently<Inputs: AsyncSequence, Output: Sendable>(
    _ inputs: Inputs,
    maxConcurrency: Int,
    ordered: Bool = false,
    reorderWindow: Int? = nil,
    bufferLimit: (bytes: Int, weight: (Output) -> Int)? = nil,
    transform: @escaping @Sendable (Inputs.Element) async throws -> Output,
    consume: (Output) async throws -> Void
) async throws where Inputs.Element: Sendable {
    precondition(maxConcurrency >= 1, "maxConcurrency must be at least 1")
    let window = max(maxConcurrency, reorderWindow ?? maxConcurrency * 4)
    try await withThrowingTaskGroup(of: (Int, Output).self) { group in
        var iterator = inputs.makeAsyncIterator()
        var started = 0
        var nextToEmit = 0
        var inFlight = 0
        var exhausted = false
        var early: [Int: Output] = [:]
        var earlyWeight = 0
        while true {
            while !exhausted, inFlight < maxConcurrency,
                !ordered || (started - nextToEmit < window && earlyWeight <= bufferLimit?.bytes ?? Int.max)
            {
                guard let element = try await iterator.next() else {
                    exhausted = true
                    break
                }
                let index = started
                started += 1
                inFlight += 1
                group.addTask { (index, try await transform(element)) }
            }
            guard inFlight > 0, let (index, output) = try await group.next() else { break }
            inFlight -= 1
            if ordered {
                early[index] = output
                earlyWeight += bufferLimit?.weight(output) ?? 0
                while let ready = early.removeValue(forKey: nextToEmit) {
                    earlyWeight -= bufferLimit?.weight(ready) ?? 0
                    nextToEmit += 1
                    try await consume(ready)
                }
            } else {
                try await consume(output)
            }
        }
    }
}

extension Sequence where Element: Sendable {
    /// Transforms every element with at most `maxConcurrency` calls in flight, like a bounded `asyncio.gather`.
    ///
    /// The first error cancels the calls still running and is rethrown. Results come back in input order unless
    /// `ordered` is false (then in completion order).
    ///
    /// ```swift
    /// let sizes = try await urls.concurrentMap(maxConcurrency: 16) { url in try await download(url).count }
    /// ```
    public func concurrentMap<T: Sendable>(
        maxConcurrency: Int,
        ordered: Bool = true,
        _ transform: @escaping @Sendable (Element) async throws -> T
    ) async throws -> [T] {
        var results: [T] = []
        results.reserveCapacity(self.underestimatedCount)
        try await forEachConcurrently(
            AsyncElements(self),
            maxConcurrency: maxConcurrency,
            ordered: ordered,
            transform: transform
        ) { results.append($0) }
        return results
    }

    /// Transforms every element with at most `maxConcurrency` calls in flight, and returns each call's
    /// `Result` in input order: one failure does not stop the others (asyncio's `return_exceptions=True`).
    ///
    /// ```swift
    /// for case .failure(let error) in await urls.concurrentMapResults(maxConcurrency: 8, fetch) { print(error) }
    /// ```
    public func concurrentMapResults<T: Sendable>(
        maxConcurrency: Int,
        _ transform: @escaping @Sendable (Element) async throws -> T
    ) async -> [Result<T, any Error>] {
        var results: [Result<T, any Error>] = []
        results.reserveCapacity(self.underestimatedCount)
        do {
            try await forEachConcurrently(
                AsyncElements(self),
                maxConcurrency: maxConcurrency,
                ordered: true,
                transform: { element -> Result<T, any Error> in
                    do { return .success(try await transform(element)) } catch { return .failure(error) }
                }
            ) { results.append($0) }
        } catch {
            // Only cancellation of the calling task reaches here: report it for the items that never ran.
        }
        while results.count < self.underestimatedCount { results.append(.failure(CancellationError())) }
        return results
    }

    /// Runs `body` for every element with at most `maxConcurrency` calls in flight; the first error cancels
    /// the rest and is rethrown.
    public func concurrentForEach(
        maxConcurrency: Int,
        _ body: @escaping @Sendable (Element) async throws -> Void
    ) async throws {
        try await forEachConcurrently(AsyncElements(self), maxConcurrency: maxConcurrency, transform: body) { _ in }
    }
}

extension AsyncSequence where Element: Sendable {
    /// Transforms every element with at most `maxConcurrency` calls in flight, pulling the input only as slots
    /// free up, and collects the results (in input order unless `ordered` is false).
    public func concurrentMap<T: Sendable>(
        maxConcurrency: Int,
        ordered: Bool = true,
        _ transform: @escaping @Sendable (Element) async throws -> T
    ) async throws -> [T] {
        var results: [T] = []
        try await forEachConcurrently(self, maxConcurrency: maxConcurrency, ordered: ordered, transform: transform) {
            results.append($0)
        }
        return results
    }

    /// Runs `body` for every element with at most `maxConcurrency` calls in flight, pulling the input only as
    /// slots free up; the first error cancels the rest and is rethrown.
    public func concurrentForEach(
        maxConcurrency: Int,
        _ body: @escaping @Sendable (Element) async throws -> Void
    ) async throws {
        try await forEachConcurrently(self, maxConcurrency: maxConcurrency, transform: body) { _ in }
    }
}

/// A synchronous sequence seen as an `AsyncSequence`.
public struct AsyncElements<Base: Sequence>: AsyncSequence {
    public typealias Element = Base.Element
    let base: Base

    /// Wraps `base`.
    public init(_ base: Base) { self.base = base }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var iterator: Base.Iterator
        public mutating func next() async -> Base.Element? { self.iterator.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(iterator: self.base.makeIterator()) }
}

extension AsyncElements: Sendable where Base: Sendable {}
