"""Posts the first N bodies to URL one at a time and counts answers that match the model's prediction."""
import json
import sys
import urllib.request

url, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
expected = json.load(open(work + "/expected.json"))
good = 0
for i, line in enumerate(open(work + "/bodies.jsonl")):
    if i >= n:
        break
    request = urllib.request.Request(url, data=line.encode(), headers={"Content-Type": "application/json"})
    answer = json.load(urllib.request.urlopen(request, timeout=10))
    digit = answer["predictions"][0]["digit"] if "predictions" in answer else answer["digit"]
    good += digit == expected[i]
print(good)
