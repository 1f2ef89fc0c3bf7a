"""More slot fillers for the built-in generator (one entry per line, so the lists stay readable).

Kept apart from ``phrases`` (the wrappers) because these are topics: what benign users
and campaigns both ask about.
"""

from __future__ import annotations


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


MORE_TOPICS = _lines("""
how a bill becomes law in the United States
why airplanes can fly upside down
the difference between TCP and UDP
how antibiotics stop working over time
what causes the northern lights
how to read a nutrition label
the main causes of the French Revolution
how solar panels turn light into electricity
what a mortgage amortisation schedule is
how to train a puppy to stop biting
why the Roman Empire fell
how vaccines are tested before approval
how index funds work
the basics of music theory
how to prepare for a job interview
how black holes form
the difference between a virus and a bacterium
how to write a good README
how the stock market sets prices
what happens during a solar eclipse
how to reduce food waste at home
the history of the internet
how elections are run in India
what a carbon tax does
how memory works in the human brain
how to improve sleep quality
how container shipping changed trade
the pros and cons of nuclear power
how to start learning to draw
why some languages have grammatical gender
how earthquakes are measured
how to plan a small wedding on a budget
what makes a startup pitch convincing
how coffee is decaffeinated
why cats purr
the ethics of self-driving cars
how public key cryptography works
how to learn a language as an adult
what the gig economy means for workers
how the immune system fights cancer
""")

MORE_CODE_TASKS = _lines("""
parses a YAML config and validates required keys
converts a CSV file to JSON lines
finds duplicate files in a folder by hash
implements a trie with insert and prefix search
sends an e-mail with an attachment over SMTP
generates a random password with given rules
resizes all images in a folder to 800 pixels wide
computes the shortest path in a weighted graph
tails a log file and alerts on a pattern
implements a thread-safe counter
parses a URL query string into a dictionary
checks if two strings are rotations of each other
merges overlapping intervals
implements a simple pub/sub event bus
reads a large file in chunks and counts lines
converts between time zones correctly
calculates business days between two dates
implements pagination with cursors over a SQL table
serialises a dataclass to JSON and back
batches API calls to at most 100 per second
validates a credit card number with the Luhn check
implements a circuit breaker around a flaky call
builds a minimal REST endpoint with input validation
renames files based on their EXIF date
computes percentiles of a stream in bounded memory
""")

DATA_TABLES = _lines("""
orders(order_id, customer_id, amount, created_at, country)
events(user_id, event_name, ts, device, session_id)
payments(payment_id, account_id, amount, currency, status, paid_at)
tickets(ticket_id, assignee, priority, opened_at, closed_at)
shipments(shipment_id, warehouse, carrier, shipped_at, delivered_at)
sensors(sensor_id, reading, unit, measured_at, site)
""")
DATA_QUESTIONS = _lines("""
Write a SQL query over {t} that returns the {agg} per {dim} for the last {n} days.
Using pandas and a table {t}, compute the {agg} per {dim} and plot it.
Given {t}, find the top {n} values of {dim} by {agg} and explain the query.
How would you detect anomalies in {t} when the {agg} per {dim} jumps?
Write a window-function query over {t} that ranks each {dim} by {agg} within its month.
""")
DATA_AGGS = ["count", "median", "average", "sum", "95th percentile", "distinct count"]
DATA_DIMS = ["country", "day", "week", "device", "warehouse", "assignee", "currency", "site"]

# Follow-up turns by what the conversation is about (coding chats do not ask to "make it more formal").
FOLLOWUPS_BY_CATEGORY = {
    "coding": _lines("""
Thanks, that works. Can you also add error handling?
That didn't work, I get {bug}.
Now write tests for it.
What about edge cases?
Can you translate that into {lang}?
Why did you choose that approach?
Can you make it faster?
Add type hints and docstrings please.
"""),
    "writing": _lines("""
Make it more formal.
Can you make it shorter?
Make it sound less like a robot.
Add a sentence about our new pricing.
Now a version for Twitter.
Can you fix the grammar only, without rewriting?
"""),
    "math": _lines("""
Why is the second step valid?
Can you check the answer another way?
What if the numbers were doubled?
I got a different result, where is my mistake?
Explain it for a 12-year-old.
"""),
    "general": _lines("""
Great. Explain the last part?
Can you give a concrete example?
What are the sources for that?
Can you summarise that in three bullet points?
Is that still true today?
"""),
}
