"""A third-party AMI client (PyPI `panoramisk`) against the simulator.

usage: panoramisk_client.py PORT EXPECTED_EVENTS
Logs in as admin/amp111, collects every bus event until EXPECTED_EVENTS have arrived, then
sends an async Originate and waits for its answer and its OriginateResponse. Prints one JSON object:
{"events": [[name, timestamp], ...], "originate": <response>, "originate_event": <event>}.
"""
import asyncio
import json
import sys

from panoramisk import Manager


async def main(port, expected):
    loop = asyncio.get_running_loop()
    events = []
    got_all = loop.create_future()
    manager = Manager(host="127.0.0.1", port=port, username="admin", secret="amp111",
                      ping_delay=3600, loop=loop)

    def on_event(_manager, message):
        name = message.get("Event")
        if "Timestamp" in message and name not in ("SuccessfulAuth", "OriginateResponse"):
            if len(events) < expected:
                events.append([name, message["Timestamp"]])
            if len(events) == expected and not got_all.done():
                got_all.set_result(True)

    manager.register_event("*", on_event)
    await manager.connect()
    await asyncio.wait_for(got_all, 30)
    # panoramisk treats an async Originate as a two-part answer: the action's future gets
    # the response and then the OriginateResponse event that carries the same ActionID.
    answer = await asyncio.wait_for(manager.send_action({
        "Action": "Originate", "Channel": "PJSIP/2001", "Context": "internal",
        "Exten": "2002", "Priority": "1", "CallerID": '"Click2Call" <2001>',
        "Async": "true", "ActionID": "py-orig-1"}), 30)
    resp, event = answer[0], answer[-1]
    manager.close()
    print(json.dumps({"events": events, "originate": dict(resp), "originate_event": dict(event)}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
