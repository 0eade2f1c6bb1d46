import GatherCrawl
import Testing

/// One robots.txt, the crawler reading it, and what it must conclude.
struct RobotsCase: Sendable, CustomTestStringConvertible {
    let name: String
    let text: String
    var agent = "gather"
    var allowed: [String] = []
    var disallowed: [String] = []
    var crawlDelay: Duration? = nil
    var sitemaps: [String] = []

    var testDescription: String { self.name }
}

@Suite struct RobotsTxtTests {
    static let limit = 500 * 1024

    /// `head`, comment lines, then `tail` starting at byte `offset`.
    static func padded(_ head: String, tailAt offset: Int, _ tail: String) -> String {
        let fill = offset - head.utf8.count
        let first = fill % 10 == 0 ? "" : String(repeating: "#", count: fill % 10 - 1) + "\n"
        return head + first + String(repeating: "#########\n", count: fill / 10) + tail
    }

    static let cases: [RobotsCase] = [
        // Groups.
        RobotsCase(
            name: "a group naming the crawler wins over *",
            text: "User-agent: *\nDisallow: /\n\nUser-agent: gather\nDisallow: /private\n",
            allowed: ["/", "/public"], disallowed: ["/private", "/private/x"]),
        RobotsCase(
            name: "* applies when no group names the crawler",
            text: "User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nDisallow: /tmp\n",
            allowed: ["/", "/x"], disallowed: ["/tmp", "/tmp/a"]),
        RobotsCase(
            name: "no matching group and no * allows everything",
            text: "User-agent: otherbot\nDisallow: /\n",
            allowed: ["/", "/a"]),
        RobotsCase(
            name: "an empty group naming the crawler allows everything despite *",
            text: "User-agent: *\nDisallow: /\n\nUser-agent: gather\n",
            allowed: ["/", "/a"]),
        RobotsCase(
            name: "groups naming the crawler are merged",
            text:
                "User-agent: gather\nDisallow: /a\n\nUser-agent: *\nDisallow: /c\n\nUser-agent: gather\nDisallow: /b\n",
            allowed: ["/c", "/"], disallowed: ["/a", "/b"]),
        RobotsCase(
            name: "consecutive user-agent lines share one group, blank lines included",
            text:
                "User-agent: otherbot\n\nUser-agent: gather\nDisallow: /shared\nUser-agent: thirdbot\nDisallow: /third\n",
            allowed: ["/third"], disallowed: ["/shared"]),
        RobotsCase(
            name: "agent names and keys are case-insensitive",
            text: "USER-AGENT: GaThEr\nDISALLOW: /x\nallow: /x/ok\n",
            agent: "Gather",
            allowed: ["/x/ok"], disallowed: ["/x"]),
        RobotsCase(
            name: "a version after the agent name is ignored",
            text: "User-agent: gather/2.1\nDisallow: /v\n",
            disallowed: ["/v"]),
        RobotsCase(
            name: "our full User-Agent string reduces to its product token",
            text: "User-agent: gather\nDisallow: /x\n",
            agent: "Gather/1.0 (+https://example.com/bot)",
            disallowed: ["/x"]),
        RobotsCase(
            name: "agent names must match exactly, not by prefix",
            text:
                "User-agent: gatherer\nDisallow: /\n\nUser-agent: gather-bot\nDisallow: /\n\nUser-agent: gath\nDisallow: /\n",
            allowed: ["/", "/a"]),
        RobotsCase(
            name: "rules before any user-agent line are ignored",
            text: "Disallow: /\nAllow: /x\nUser-agent: *\nDisallow: /x\n",
            allowed: ["/", "/a"], disallowed: ["/x"]),
        // Rule precedence.
        RobotsCase(
            name: "the longest matching pattern wins",
            text: "User-agent: *\nDisallow: /shop\nAllow: /shop/public\nDisallow: /shop/public/secret\n",
            allowed: ["/shop/public", "/shop/public/x"], disallowed: ["/shop", "/shop/cart", "/shop/public/secret"]),
        RobotsCase(
            name: "allow wins a tie, whatever the order",
            text: "User-agent: *\nAllow: /page\nDisallow: /page\nDisallow: /*.php\nAllow: /a.php\n",
            allowed: ["/page", "/page/x", "/a.php"], disallowed: ["/b.php"]),
        RobotsCase(
            name: "paths are case-sensitive",
            text: "User-agent: *\nDisallow: /Private\n",
            allowed: ["/private"], disallowed: ["/Private", "/Private/x"]),
        RobotsCase(
            name: "an empty disallow allows everything",
            text: "User-agent: *\nDisallow:\n",
            allowed: ["/", "/a", "/a?b=c"]),
        RobotsCase(
            name: "an empty allow or disallow matches nothing",
            text: "User-agent: *\nDisallow: /\nAllow:\nDisallow:\n",
            disallowed: ["/", "/a"]),
        RobotsCase(
            name: "/robots.txt is always allowed",
            text: "User-agent: *\nDisallow: /\n",
            allowed: ["/robots.txt"], disallowed: ["/", "/robots.txt.bak", "/robots"]),
        // Patterns.
        RobotsCase(
            name: "a trailing * changes nothing",
            text: "User-agent: *\nDisallow: /fish*\n",
            allowed: ["/Fish.asp", "/catfish", "/"], disallowed: ["/fish", "/fishheads/a", "/fish.html"]),
        RobotsCase(
            name: "* in the middle matches any sequence, / included",
            text: "User-agent: *\nDisallow: /*/private\n",
            allowed: ["/private", "/a/public"], disallowed: ["/a/private", "/a/b/private/c", "//private"]),
        RobotsCase(
            name: "several * in one pattern",
            text: "User-agent: *\nDisallow: /*a*b*c\n",
            allowed: ["/cba", "/ab"], disallowed: ["/abc", "/xaxbxc", "/aab/bac/c"]),
        RobotsCase(
            name: "$ anchors to the end of the path and query",
            text: "User-agent: *\nDisallow: /*.php$\n",
            allowed: ["/index.php?x=1", "/index.php5", "/php/"], disallowed: ["/index.php", "/a/b.php", "/.php.php"]),
        RobotsCase(
            name: "/$ is the root only",
            text: "User-agent: *\nDisallow: /$\n",
            allowed: ["/a", "/?q=1"], disallowed: ["/", ""]),
        RobotsCase(
            name: "$ before the end is an ordinary character",
            text: "User-agent: *\nDisallow: /a$b\n",
            allowed: ["/a", "/ab"], disallowed: ["/a$b", "/a$b/c"]),
        RobotsCase(
            name: "query strings are part of the match",
            text: "User-agent: *\nDisallow: /*?sort=\nDisallow: /search?\n",
            allowed: ["/shop", "/shop?page=2&sort=asc", "/search", "/search/x"],
            disallowed: ["/shop?sort=asc", "/search?q=1", "/search?"]),
        RobotsCase(
            name: "a fragment is not part of the match, and # in robots.txt starts a comment",
            text: "User-agent: *\nDisallow: /page$\nDisallow: /other#x\n",
            allowed: ["/page/x", "/page?x#y"], disallowed: ["/page#top", "/other", "/other#x"]),
        // Percent-encoding.
        RobotsCase(
            name: "encoded unreserved characters equal their plain form",
            text: "User-agent: *\nDisallow: /%7Efoo\nDisallow: /~bar\nDisallow: /%61%62c\n",
            allowed: ["/foo", "/~baz"], disallowed: ["/~foo", "/%7efoo", "/%7Ebar/x", "/abc", "/a%62c"]),
        RobotsCase(
            name: "encoded reserved characters differ from plain ones; hex case does not matter",
            text: "User-agent: *\nDisallow: /a%2fb\n",
            allowed: ["/a/b"], disallowed: ["/a%2Fb", "/a%2fb/c"]),
        RobotsCase(
            name: "non-ASCII patterns and paths compare as UTF-8 percent-encoded",
            text: "User-agent: *\nDisallow: /foo/bar/ツ\nDisallow: /caf%C3%A9\n",
            allowed: ["/foo/bar/", "/cafe"], disallowed: ["/foo/bar/%E3%83%84", "/foo/bar/%e3%83%84/x", "/café"]),
        // Syntax.
        RobotsCase(
            name: "comments are ignored, whole lines and line ends",
            text: "# robots for example.com\nUser-agent: * # everyone\nDisallow: /x # not /y\n#Disallow: /z\n",
            allowed: ["/y", "/z"], disallowed: ["/x"]),
        RobotsCase(
            name: "CRLF line ends",
            text: "User-agent: *\r\nDisallow: /x\r\nAllow: /x/ok\r\n",
            allowed: ["/y", "/x/ok"], disallowed: ["/x"]),
        RobotsCase(
            name: "CR line ends",
            text: "User-agent: *\rDisallow: /x\r",
            allowed: ["/y"], disallowed: ["/x"]),
        RobotsCase(
            name: "a byte order mark is skipped",
            text: "\u{FEFF}User-agent: *\nDisallow: /x\n",
            allowed: ["/y"], disallowed: ["/x"]),
        RobotsCase(
            name: "whitespace around keys and values is trimmed",
            text: "  User-agent :  gather  \n\tDisallow\t:\t/x  \n",
            allowed: ["/y"], disallowed: ["/x"]),
        RobotsCase(
            name: "lines without a colon are skipped",
            text: "User-agent: *\nDisallow /x\nDisallow: /y\n",
            allowed: ["/x"], disallowed: ["/y"]),
        RobotsCase(
            name: "unknown keys are ignored and do not end a group",
            text: "User-agent: gather\nHost: example.com\nUser-agent: other\nNoindex: /\nDisallow: /x\n",
            allowed: ["/"], disallowed: ["/x"]),
        RobotsCase(
            name: "common misspellings of keys are accepted",
            text:
                "useragent: gather\ndissallow: /a\nuser agent: gather\ndisalow: /b\nsite-map: https://example.com/s.xml\n",
            allowed: ["/c"], disallowed: ["/a", "/b"], sitemaps: ["https://example.com/s.xml"]),
        // Crawl-delay.
        RobotsCase(
            name: "crawl-delay in whole seconds",
            text: "User-agent: gather\nCrawl-delay: 5\nDisallow: /x\n",
            disallowed: ["/x"], crawlDelay: .seconds(5)),
        RobotsCase(
            name: "fractional crawl-delay from *",
            text: "User-agent: *\ncrawl-delay: 0.5\n",
            allowed: ["/"], crawlDelay: .milliseconds(500)),
        RobotsCase(
            name: "crawl-delay of another agent's group is ignored",
            text: "User-agent: otherbot\nCrawl-delay: 30\n\nUser-agent: gather\nDisallow: /x\n",
            disallowed: ["/x"], crawlDelay: nil),
        RobotsCase(
            name: "crawl-delay of * is ignored when a group names the crawler",
            text: "User-agent: *\nCrawl-delay: 10\n\nUser-agent: gather\nDisallow:\n",
            allowed: ["/"], crawlDelay: nil),
        RobotsCase(
            name: "the largest crawl-delay of merged groups applies",
            text: "User-agent: gather\nCrawl-delay: 2\n\nUser-agent: gather\nCrawl-delay: 7.25\n",
            crawlDelay: .milliseconds(7250)),
        RobotsCase(
            name: "an unreadable or negative crawl-delay is ignored",
            text: "User-agent: gather\nCrawl-delay: soon\nCrawl-delay: -1\nCrawl-delay: inf\n",
            crawlDelay: nil),
        // Sitemaps.
        RobotsCase(
            name: "sitemaps come from anywhere in the file, once each",
            text: """
                Sitemap: https://example.com/a.xml
                User-agent: otherbot
                Sitemap: https://example.com/b.xml
                Disallow: /
                sitemap:https://example.com/a.xml
                User-agent: gather
                SITEMAP: https://example.com/c.xml # last
                """,
            allowed: ["/"],
            sitemaps: ["https://example.com/a.xml", "https://example.com/b.xml", "https://example.com/c.xml"]),
        // The 500 KiB limit.
        RobotsCase(
            name: "a rule ending exactly at 500 KiB applies, one after it does not",
            text: padded(
                "User-agent: *\n", tailAt: limit - "Disallow: /edge\n".utf8.count,
                "Disallow: /edge\nDisallow: /late\n"),
            allowed: ["/late", "/"], disallowed: ["/edge"]),
        RobotsCase(
            name: "a line cut at 500 KiB is dropped, not shortened",
            text: padded("User-agent: *\n", tailAt: limit - 12, "Disallow: /cut-here\n"),
            allowed: ["/cut-here", "/c"]),
    ]

    @Test(arguments: RobotsTxtTests.cases) func decides(_ example: RobotsCase) {
        let robots = RobotsTxt(parsing: example.text, userAgent: example.agent)
        for path in example.allowed {
            #expect(robots.allows(path), "\(path) should be allowed")
        }
        for path in example.disallowed {
            #expect(!robots.allows(path), "\(path) should be disallowed")
        }
        #expect(robots.crawlDelay == example.crawlDelay)
        #expect(robots.sitemaps == example.sitemaps)
    }

    @Test func allowAllAndDisallowAll() {
        for path in ["", "/", "/a", "/a?b=c", "/robots.txt"] {
            #expect(RobotsTxt.allowAll.allows(path))
        }
        for path in ["", "/", "/a", "/a?b=c"] {
            #expect(!RobotsTxt.disallowAll.allows(path))
        }
        #expect(RobotsTxt.disallowAll.allows("/robots.txt"))
        #expect(RobotsTxt.allowAll.crawlDelay == nil && RobotsTxt.allowAll.sitemaps.isEmpty)
        #expect(RobotsTxt.disallowAll.crawlDelay == nil && RobotsTxt.disallowAll.sitemaps.isEmpty)
    }

    @Test func equalFilesGiveEqualValues() {
        #expect(RobotsTxt(parsing: "", userAgent: "gather") == .allowAll)
        #expect(RobotsTxt(parsing: "User-agent: *\nDisallow:\n", userAgent: "gather") == .allowAll)
        #expect(RobotsTxt(parsing: "User-agent: *\nDisallow: /\n", userAgent: "gather") == .disallowAll)
        #expect(Set([RobotsTxt.allowAll, .disallowAll, .allowAll]).count == 2)
    }

    @Test func longPathsAndPatternsStayFast() {
        let robots = RobotsTxt(
            parsing: "User-agent: *\nDisallow: /" + String(repeating: "*a", count: 200) + "b$\n", userAgent: "gather")
        let path = "/" + String(repeating: "a", count: 20_000)
        let clock = ContinuousClock()
        let elapsed = clock.measure { #expect(robots.allows(path)) }
        #expect(elapsed < .seconds(2))
    }
}
