import Testing

@testable import GatherHTTP

@Suite struct ProxySettingsTests {
    @Test func readsTheEnvironment() {
        let settings = ProxySettings.fromEnvironment([
            "HTTP_PROXY": "http://proxy.local:3128",
            "https_proxy": "http://user:pw@secure.local:8443",
            "NO_PROXY": "localhost, .internal.example, 10.0.0.1",
        ])
        #expect(settings.http?.host == "proxy.local")
        #expect(settings.http?.port == 3128)
        #expect(settings.https?.host == "secure.local")
        #expect(settings.https?.credentials?.user == "user")
        #expect(settings.server(scheme: "http", host: "api.example.com")?.host == "proxy.local")
        #expect(settings.server(scheme: "https", host: "api.example.com")?.port == 8443)
        #expect(settings.server(scheme: "http", host: "localhost") == nil)
        #expect(settings.server(scheme: "http", host: "db.internal.example") == nil)
        #expect(settings.server(scheme: "http", host: "internal.example") == nil)
        #expect(settings.server(scheme: "http", host: "10.0.0.1") == nil)
        #expect(settings.server(scheme: "http", host: "notinternal.example")?.host == "proxy.local")
    }

    @Test func starDisablesProxies() {
        let settings = ProxySettings.fromEnvironment(["HTTP_PROXY": "proxy:8080", "NO_PROXY": "*"])
        #expect(settings.server(scheme: "http", host: "anything") == nil)
    }

    @Test func defaultPortFollowsTheProxyScheme() {
        #expect(ProxySettings.Server(url: "http://p")?.port == 80)
        #expect(ProxySettings.Server(url: "https://p")?.port == 443)
        #expect(ProxySettings.Server(url: "") == nil)
    }

    @Test func requestTargets() {
        #expect(RequestTarget(url: "https://User@API.example.com:8443/x?y")?.host == "api.example.com")
        #expect(RequestTarget(url: "http://[::1]:8080/")?.host == "[::1]")
        #expect(RequestTarget(url: "mailto:x@y") == nil)
        #expect(RequestTarget(url: "http:///path") == nil)
    }
}
