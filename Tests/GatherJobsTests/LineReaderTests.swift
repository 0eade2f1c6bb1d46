import GatherTesting
import Testing

@testable import GatherJobs

/// `gather fetch` and `gather map` read their input through `LineReader`, which splits with GatherFiles'
/// `LineSplitter`: the same lines whatever the chunk size.
@Suite struct LineReaderTests {
    static func lines(_ path: String, chunkSize: Int, maxLineBytes: Int) async throws -> [String] {
        let reader = try LineReader(path: path, chunkSize: chunkSize, maxLineBytes: maxLineBytes)
        var out: [String] = []
        while let line = try await reader.next() {
            switch line {
            case .text(let number, let bytes): out.append("\(number):\(String(decoding: bytes, as: UTF8.self))")
            case .tooLong(let number, let length): out.append("\(number):too long (\(length))")
            }
        }
        return out
    }

    @Test(arguments: [1, 2, 3, 7, 64, 1 << 20])
    func linesAreTheSameWhateverTheChunkSize(chunkSize: Int) async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        // A byte order mark, CRLF, an empty line, a line over the 20-byte cap, and no line break at the end.
        let text = "\u{FEFF}http://a/1\r\n\nhttp://b/2\n" + String(repeating: "x", count: 30) + "\nhttp://c/3"
        let path = try folder.write("urls.txt", text)
        let lines = try await Self.lines(path, chunkSize: chunkSize, maxLineBytes: 20)
        #expect(lines == ["1:http://a/1", "2:", "3:http://b/2", "4:too long (30)", "5:http://c/3"])
    }

    @Test func anEmptyFileHasNoLines() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let path = try folder.write("empty.txt", "")
        #expect(try await Self.lines(path, chunkSize: 16, maxLineBytes: 20).isEmpty)
    }

    @Test func aMissingFileIsAUsageErrorNamingIt() {
        #expect {
            _ = try LineReader(path: "/nonexistent/urls.txt")
        } throws: { error in
            "\(error)".contains("/nonexistent/urls.txt") && "\(error)".contains("check the path")
        }
    }
}
