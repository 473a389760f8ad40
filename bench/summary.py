"""The tables of bench/run that need more than one run's figures: the cpu part's table, the pictures
part's, and the summary per server with the targets, each PASS or MISS.
  summary.py cpu RESULTS.jsonl OUT.md SECONDS ROUNDS CPU
  summary.py pictures RESULTS.tsv OUT.md ROUNDS
  summary.py final BUILD_DIR OUT.md PART...   (the parts that ran; BENCH_COMPARE: an earlier summary)
The final step also writes BUILD_DIR/bench-summary.json, which BENCH_COMPARE reads back."""
import json
import os
import shutil
import sys
from statistics import median

LIMIT = "epoll_server"  # the limit row: hand-written epoll, one recv and one send per reply
SYSCALLS = ("recvfrom", "sendto", "epoll_ctl")


def read_jsonl(path):
    try:
        return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    except FileNotFoundError:
        return []


def ok(result):
    return result is not None and result["errors"] == 0


def plural(n, what="run"):
    return f"{n} {what}{'' if str(n) == '1' else 's'}"


def fmt(v, digits=2):
    return "—" if v is None else f"{v:,.{digits}f}"


# ---- cpu: CPU per reply, pinned; syscalls per reply ----

def cpu_figures(runs):
    """Per server: CPU µs per reply of every clean run and their median, the pinned rate, and the
    syscalls per reply of the perf run."""
    servers = list(dict.fromkeys(r["server"] for r in runs))
    out = {}
    for s in servers:
        mine = [r for r in runs if r["server"] == s]
        cpu_runs = [r for r in mine if r["kind"] == "cpu"]
        per_reply = [r["result"]["server_cpu_s"] * 1e6 / r["result"]["replies"] for r in cpu_runs
                     if ok(r["result"]) and r["result"].get("server_cpu_s") is not None
                     and r["result"]["replies"]]
        rates = [r["result"]["replies_per_s"] for r in cpu_runs if ok(r["result"])]
        sys_run = next((r for r in mine if r["kind"] == "syscalls"), None)
        calls = None
        if sys_run and ok(sys_run["result"]) and sys_run.get("syscalls") and sys_run["result"]["replies"]:
            calls = {k: sys_run["syscalls"][k] / sys_run["result"]["replies"] for k in SYSCALLS
                     if sys_run["syscalls"].get(k) is not None}
            calls = calls if len(calls) == len(SYSCALLS) else None
        notes = [r["note"] for r in cpu_runs if r["note"]]
        notes += [f"{r['result']['errors']} errors: see build/bench-loadgen.log" for r in cpu_runs
                  if r["result"] is not None and not ok(r["result"])]
        if sys_run and sys_run["note"]:
            notes.append(sys_run["note"])
        out[s] = {"cpu_us": median(per_reply) if per_reply else None, "cpu_runs": per_reply,
                  "rate": median(rates) if rates else None, "calls": calls,
                  "notes": list(dict.fromkeys(notes))}
    return out


def cpu_section(results, md, seconds, rounds, cpu):
    if not cpu.isdigit():  # the part could not run: cpu says why
        return write(md, ["Server CPU per reply: " + cpu])
    runs = read_jsonl(results)
    figs = cpu_figures(runs)
    lines = [f"Server CPU per reply: 100 connections ping-pong, server and load generator pinned to CPU {cpu}; "
             f"the server's utime + stime over the measured window ÷ the replies in it, the median of {plural(rounds)} "
             f"of {seconds} s taken in turns. System calls per reply: `perf stat` over one more such "
             "window (perf slows the server, so that run's CPU is not used).",
             "",
             "| server | replies/s (pinned) | CPU µs per reply | runs | recvfrom | sendto | epoll_ctl | notes |",
             "|---|---:|---:|---|---:|---:|---:|---|"]
    for s, f in figs.items():
        calls = f["calls"] or {}
        lines.append(f"| {s} | {fmt(f['rate'], 0)} | {fmt(f['cpu_us'])} | "
                     f"{', '.join(f'{v:.2f}' for v in f['cpu_runs']) or '—'} | "
                     + " | ".join(fmt(calls.get(k)) if calls else "n/a" for k in SYSCALLS)
                     + f" | {'; '.join(f['notes'])} |")
    write(md, lines)


# ---- pictures: keep-alive downloads with curl ----

def picture_rounds(tsv):
    """Rounds of curl transfers: {round: [(code, bytes, connects, seconds)]}."""
    rounds = {}
    try:
        for line in open(tsv, encoding="utf-8"):
            parts = line.split()
            if len(parts) == 5:
                r, code, size, connects, secs = parts
                rounds.setdefault(int(r), []).append((code, int(float(size)), int(connects), float(secs)))
    except FileNotFoundError:
        pass
    return rounds


def picture_figures(tsv, expected):
    rounds = picture_rounds(tsv)
    meds, notes = [], []
    for r, ts in sorted(rounds.items()):
        good = all(c == "200" for c, _, _, _ in ts) and len(ts) == expected
        if good:
            meds.append(median(t for _, _, _, t in ts) * 1000)
        else:
            notes.append(f"round {r}: {len(ts)} of {expected} transfers, "
                         f"codes {' '.join(sorted(set(c for c, _, _, _ in ts)))}")
        connects = sum(n for _, _, n, _ in ts)
        if connects != 1:
            notes.append(f"round {r}: {connects} connections, not 1: the connection was not kept alive")
    return {"median_ms": median(meds) if meds else None, "rounds": rounds, "notes": notes}


def pictures_section(tsv, md, rounds, count, note):
    lines = [f"Keep-alive pictures: curl fetches {count} pictures of 64×64 one after another on one kept-alive "
             f"connection from `image_server --delay-ms 0`; {plural(rounds, 'round')}. Time per picture: curl's time_total "
             "of each transfer.", ""]
    if note:
        write(md, lines + [note])
        return
    f = picture_figures(tsv, int(count))
    lines += ["| round | median ms | min ms | max ms | first ms (with connect) | connections |",
              "|---:|---:|---:|---:|---:|---:|"]
    for r, ts in sorted(f["rounds"].items()):
        times = [t * 1000 for _, _, _, t in ts]
        lines.append(f"| {r} | {median(times):.2f} | {min(times):.2f} | {max(times):.2f} | {times[0]:.2f} | "
                     f"{sum(n for _, _, n, _ in ts)} |")
    lines += ["", f"Median per picture: {fmt(f['median_ms'])} ms (the median of the rounds' medians)."]
    lines += [f"- {n}" for n in f["notes"]]
    write(md, lines)


# ---- final: the summary per server, the targets, and before → after ----

def server_figures(runs):
    """From the servers part: per server, the median rate of each workload, the median p99 and max of
    10,000 active connections, and the median RSS growth per idle connection."""
    out = {}
    for r in runs:
        res = r["result"]
        f = out.setdefault(r["step"], {"rates": {}, "p99": [], "max": [], "idle_b": [], "notes": set()})
        if not ok(res):
            if r["note"]:
                f["notes"].add(r["note"])
            continue
        f["rates"].setdefault(r["workload"], []).append(res["replies_per_s"])
        if res["conns"] >= 10000 and res["p99_us"] is not None:
            f["p99"].append(res["p99_us"] / 1000)
            f["max"].append(res["max_us"] / 1000)
        mem = res["memory"]
        if res["idle"] and mem["before"] and mem["open"]:
            f["idle_b"].append((mem["open"]["rss_kb"] - mem["before"]["rss_kb"]) * 1024 / res["idle"])
    for f in out.values():
        f["rates"] = {w: median(v) for w, v in f["rates"].items()}
        for k in ("p99", "max", "idle_b"):
            f[k] = median(f[k]) if f[k] else None
        f["notes"] = sorted(f["notes"])
    return out


def download_figures(tsv):
    rows = {}
    try:
        for line in open(tsv, encoding="utf-8"):
            images, mode, wall, _user, _sys, _modes, good, checked = line.rstrip("\n").split("\t")
            rows[f"{images} {mode}"] = {"wall": float(wall) if wall else None, "ok": good == "1",
                                        "checked": checked}
    except FileNotFoundError:
        pass
    return rows


def final(build, md, parts):
    servers = server_figures(read_jsonl(os.path.join(build, "bench-results.jsonl"))) if "servers" in parts else {}
    cpu = cpu_figures(read_jsonl(os.path.join(build, "bench-cpu.jsonl"))) if "cpu" in parts else {}
    pics = picture_figures(os.path.join(build, "bench-pictures.tsv"), 30) if "pictures" in parts else None
    downloads = download_figures(os.path.join(build, "bench-downloads.tsv")) if "downloader" in parts else {}
    names = list(dict.fromkeys([*cpu, *servers]))
    ping = "100 conns ping-pong"

    # One flat record of every figure, for this run's summary and a later run's comparison.
    summary = {}
    for s in names:
        sv, c = servers.get(s, {}), cpu.get(s, {})
        calls = c.get("calls") or {}
        summary[s] = {"cpu_us_per_reply": c.get("cpu_us"), **{f"{k}_per_reply": calls.get(k) for k in SYSCALLS},
                      "replies_per_s_pinned: " + ping: c.get("rate"),
                      "active_10k_p99_ms": sv.get("p99"), "active_10k_max_ms": sv.get("max"),
                      "idle_b_per_conn": sv.get("idle_b"),
                      **{f"replies_per_s: {w}": v for w, v in sv.get("rates", {}).items()}}
    if pics and pics["median_ms"] is not None:
        summary["pictures"] = {"keep_alive_ms_per_picture": pics["median_ms"]}
    if downloads:
        summary["downloader"] = {f"wall_s: {k}": v["wall"] for k, v in downloads.items() if v["wall"] is not None}
    json.dump(summary, open(os.path.join(build, "bench-summary.json"), "w", encoding="utf-8"), indent=1)

    lines = []
    if names:
        lines += ["Summary per server: CPU and system calls per reply, and replies/s, from the cpu part (100 "
                  "connections ping-pong, pinned); round trips of 10,000 active connections (pinned) and RSS growth per idle "
                  "connection (10,000 idle) from the servers part; each a median over the rounds.", "",
                  "| server | CPU µs/reply | recvfrom/reply | sendto/reply | epoll_ctl/reply | "
                  "10k active p99 ms | 10k active max ms | B per idle conn | replies/s, pinned | notes |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for s in names:
            f = summary[s]
            lines.append(f"| {s} | {fmt(f['cpu_us_per_reply'])} | "
                         + " | ".join(fmt(f[f'{k}_per_reply']) for k in SYSCALLS)
                         + f" | {fmt(f['active_10k_p99_ms'], 0)} | {fmt(f['active_10k_max_ms'], 0)} | "
                         f"{fmt(f['idle_b_per_conn'], 0)} | {fmt(f['replies_per_s_pinned: ' + ping], 0)} | "
                         f"{'; '.join(cpu.get(s, {}).get('notes', []))} |")
        lines.append("")

    # A target missed is a finding, not a failure: it is printed as MISS and never changes bench/run's
    # exit status, which is about crashes and errors only. "n/a": the figure was not measured.
    lines.append("Targets:")

    def target(what, verdict, figures):
        lines.append(f"- {'n/a' if verdict is None else 'PASS' if verdict else 'MISS'}: {what}: {figures}")

    def not_run(part):
        return f"not measured (bench/run {part})"

    def each(what, part, steps, value, limit, unit="", digits=2):
        """One target over several servers: PASS if every measured one is within the limit; a MISS
        names the ones that are not."""
        if part not in parts:
            return target(what, None, not_run(part))
        got = [(s, value(s)) for s in steps if s in names]
        got = [(s, v) for s, v in got if v is not None]
        if not got:
            return target(what, None, "no figure")
        missed = [s for s, v in got if v > limit(s)]
        text = ", ".join(f"{s.split('_')[0]}: {v:,.{digits}f}{unit}" for s, v in got)
        if missed:
            text += f" (over: {', '.join(missed)})"
        target(what, not missed, text)

    limit = summary.get(LIMIT, {})
    steps_2_6 = ["2_select", "3_selectors_callbacks", "4_generators", "5_coroutines", "6_async_await"]
    steps_3_6 = steps_2_6[1:]
    step6 = "6_async_await"

    # The measuring stick itself: if the limit row is off, the other comparisons mean little.
    if "cpu" not in parts:
        target("epoll_server itself: 1.00 recvfrom, 1.00 sendto, 0 epoll_ctl per reply", None, not_run("cpu"))
    elif all(limit.get(f"{k}_per_reply") is not None for k in SYSCALLS):
        r, s_, e = (limit[f"{k}_per_reply"] for k in SYSCALLS)
        target("epoll_server itself: 1.00 recvfrom, 1.00 sendto, 0 epoll_ctl per reply",
               r <= 1.01 and s_ <= 1.01 and e == 0, f"{r:.3f} / {s_:.3f} / {e:.3f}")
    else:
        target("epoll_server itself: 1.00 recvfrom, 1.00 sendto, 0 epoll_ctl per reply", None,
               "no perf figures (see the cpu table's notes)")

    def ratio_target(what, part, value, bound, higher_is_better=False, digits=2):
        if part not in parts:
            return target(what, None, not_run(part))
        mine, base = value(step6), value(LIMIT)
        if mine is None or not base:
            return target(what, None, "no figure")
        x = mine / base
        target(what, x >= bound if higher_is_better else x <= bound,
               f"{mine:,.{digits}f} vs {base:,.{digits}f}: {x:.2f}×")

    ratio_target("100 conns ping-pong, pinned: step 6's CPU per reply ≤ 1.10× epoll_server's (µs)", "cpu",
                 lambda s: summary.get(s, {}).get("cpu_us_per_reply"), 1.10)
    # Pinned, as CPU per reply: unpinned rates follow whatever else the machine runs.
    ratio_target("100 conns ping-pong, pinned: step 6's replies/s ≥ 0.92× epoll_server's", "cpu",
                 lambda s: summary.get(s, {}).get("replies_per_s_pinned: " + ping), 0.92, higher_is_better=True,
                 digits=0)
    for k, bound in (("epoll_ctl", 0.02), ("recvfrom", 1.05), ("sendto", 1.05)):
        each(f"{k} per reply ≤ {bound} (steps 2–6)", "cpu", steps_2_6,
             lambda s, k=k: summary[s][f"{k}_per_reply"], lambda s, b=bound: b)
    each("RSS growth per idle connection ≤ 600 B (10,000 idle; steps 3–6)", "servers", steps_3_6,
         lambda s: summary[s]["idle_b_per_conn"], lambda s: 600, " B", 0)
    for key, what in (("active_10k_p99_ms", "p99"), ("active_10k_max_ms", "max")):
        base = limit.get(key)
        if "servers" in parts and base:
            each(f"10,000 active, pinned: {what} round trip ≤ 1.2× epoll_server's {base:,.0f} ms (steps 3–6)",
                 "servers", steps_3_6, lambda s, key=key: summary[s][key], lambda s, b=base: 1.2 * b, " ms", 0)
        else:
            target(f"10,000 active, pinned: {what} round trip ≤ 1.2× epoll_server's (steps 3–6)", None,
                   not_run("servers") if "servers" not in parts else "no epoll_server figure")
    if "pictures" not in parts:
        target("30 keep-alive pictures (curl, 64×64, --delay-ms 0): median < 5 ms each", None, not_run("pictures"))
    elif pics["median_ms"] is None:
        target("30 keep-alive pictures (curl, 64×64, --delay-ms 0): median < 5 ms each", None,
               "; ".join(pics["notes"]) or ("no figure" if shutil.which("curl") else "n/a: curl not installed"))
    else:
        target("30 keep-alive pictures (curl, 64×64, --delay-ms 0): median < 5 ms each",
               pics["median_ms"] < 5 and not pics["notes"],
               f"{pics['median_ms']:.2f} ms" + (f" ({'; '.join(pics['notes'])})" if pics["notes"] else ""))

    def wall_target(what, key, seconds, must_check=False):
        if "downloader" not in parts:
            return target(what, None, not_run("downloader"))
        r = downloads.get(key)
        if not r or r["wall"] is None:
            return target(what, None, "no figure")
        good = r["wall"] < seconds and (r["ok"] or not must_check)
        target(what, good, f"{r['wall']:.2f} s" + ("" if r["ok"] else f"; files: {r['checked']}"))

    wall_target("downloader: async 100 images under 0.2 s wall", "100 async", 0.2)
    if "downloader" in parts and downloads.get("100 async", {}).get("wall") and downloads.get("100 sync", {}).get("wall"):
        x = downloads["100 sync"]["wall"] / downloads["100 async"]["wall"]
        target("downloader: async 100 at least 40× faster than sync 100", x >= 40, f"{x:.1f}×")
    else:
        target("downloader: async 100 at least 40× faster than sync 100", None,
               not_run("downloader") if "downloader" not in parts else "no figure")
    wall_target("downloader: async 1,000 (no concurrency limit) under 0.7 s, every file byte-correct",
                "1000 async", 0.7, must_check=True)

    compare = os.environ.get("BENCH_COMPARE")
    if compare:
        lines += [""] + comparison(compare, summary)
    write(md, lines)


def num(v):  # 3 significant digits or more, no exponent
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"


# Lower is better for every figure except a rate.
# Figures that other work on the machine hardly moves: a change in them is the program's. The rest
# (rates, round trips, wall times) moved by up to 2× between runs of the same programs on a shared
# 2-core machine, so a change there is reported, and judged only over several runs.
def load_proof(key):
    return key == "cpu_us_per_reply" or key.endswith("_per_reply") or key == "idle_b_per_conn"


def comparison(path, after):
    try:
        before = json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError) as e:
        return [f"BENCH_COMPARE: cannot read {path}: {e}"]
    lines = [f"Before → after (before: {os.path.basename(path)}); a figure more than 10% worse is marked ✗. "
             "CPU and system calls per reply and memory per idle connection hardly move with the machine's "
             "load; rates, round trips and wall times do.",
             "", "| what | figure | before | after | after/before |", "|---|---|---:|---:|---:|"]
    worse, noisy = [], []
    for name, figs in after.items():
        for key, v in figs.items():
            b = before.get(name, {}).get(key)
            if v is None or b is None:
                continue
            x = v / b if b else None
            if key.startswith("replies_per_s"):
                bad = x is not None and x < 0.9
            else:  # a count per reply may go from 0 to something: then 0.02 more is worse
                bad = v > 1.1 * b and v - b > 0.02
            if bad:
                (worse if load_proof(key) else noisy).append(f"{name} {key}")
            lines.append(f"| {name} | {key} | {num(b)} | {num(v)} | "
                         f"{'—' if x is None else f'{x:.2f}×'}{' ✗' if bad else ''} |")
    lines += ["", f"- {'MISS' if worse else 'PASS'}: no slower than before in CPU and system calls per reply and "
              "memory per idle connection (10% allowed)" + (f": worse: {'; '.join(worse)}" if worse else ""),
              f"- note: more than 10% worse in this run, among the figures load moves (confirm over several runs): "
              f"{'; '.join(noisy)}" if noisy else "- PASS: rates, round trips and wall times no more than 10% worse"]
    return lines


def write(md, lines):
    text = "\n".join(lines) + "\n"
    open(md, "w", encoding="utf-8").write(text)
    print(text, end="")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "cpu":
        cpu_section(*args)
    elif cmd == "pictures":
        pictures_section(*args)
    elif cmd == "final":
        final(args[0], args[1], set(args[2:]))
    else:
        sys.exit(f"summary.py: unknown command {cmd}")
