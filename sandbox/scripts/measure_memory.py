"""Measure the peak resident memory of `leafbridge sandbox`.

Usage: measure_memory.py LEAFBRIDGE_BINARY [SANDBOX OPTIONS...]

Starts `leafbridge sandbox --no-rate-limits` with the given options, reads
VmHWM and VmRSS from /proc/<pid>/status once the connection JSON line is
printed, pages through every LeafLink order with its line items by following
`next`, reads them again, stops the sandbox and prints one JSON line. Linux
only, and it talks only to the loopback servers the sandbox starts.
"""

import json
import subprocess
import sys
import time
import urllib.request


def memory_mb(pid):
    """Return VmHWM and VmRSS of `pid` in MiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                fields[key] = int(value.split()[0]) // 1024
    return fields


def main():
    binary, options = sys.argv[1], sys.argv[2:]
    process = subprocess.Popen(
        [binary, "sandbox", "--no-rate-limits", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        started = time.monotonic()
        info = json.loads(process.stdout.readline())
        start_seconds = time.monotonic() - started
        after_start = memory_mb(process.pid)

        leaflink = info["leaflink"]
        url = leaflink["base_url"] + "/orders-received/?limit=100&include_children=line_items"
        pages = orders = 0
        paging_started = time.monotonic()
        while url:
            request = urllib.request.Request(url, headers={"Authorization": "App " + leaflink["api_key"]})
            with urllib.request.urlopen(request) as response:
                page = json.load(response)
            orders += len(page["results"])
            pages += 1
            url = page["next"]
        paging_seconds = time.monotonic() - paging_started
        after_paging = memory_mb(process.pid)
    finally:
        process.terminate()
        process.wait()

    print(json.dumps({
        "options": options,
        "start_seconds": round(start_seconds, 1),
        "after_start_mib": after_start,
        "orders_paged": orders,
        "pages": pages,
        "paging_seconds": round(paging_seconds, 1),
        "after_paging_mib": after_paging,
    }))


if __name__ == "__main__":
    main()
