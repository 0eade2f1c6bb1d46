// The crawler: see Crawler.
