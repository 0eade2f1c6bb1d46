-- wrk: POST /predict with a random body of BODIES (one JSON body per line), counting statuses.
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local headers = { ["Content-Type"] = "application/json" }
local path = os.getenv("PREDICT_PATH") or "/predict"
request = function()
    return wrk.format("POST", path, headers, bodies[math.random(#bodies)])
end
