"""Word lists and phrase grammars the built-in prompt generator draws from.

Benign users and campaigns share the topic lists; they differ in the wrappers
(and benign users use some of the same wrapper ideas too: "explain step by step",
"grade my essay", questions on sensitive topics). Wrappers are grammars: a
wording is one pick per slot, so a campaign with ``paraphrase=1`` produces
thousands of different wordings per goal and language.
"""

from __future__ import annotations

NAMES = [
    "Alice",
    "Bilal",
    "Chen",
    "Daria",
    "Emeka",
    "Fatima",
    "Gustavo",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Viktor",
    "Wen",
    "Yusuf",
]
ITEMS = [
    "apples",
    "marbles",
    "stickers",
    "books",
    "tickets",
    "cupcakes",
    "coins",
    "pencils",
    "shells",
    "cards",
]
PLACES = ["the market", "school", "the library", "the fair", "a bakery", "the warehouse", "the garden"]
LANGS = ["Python", "TypeScript", "Go", "Rust", "Java", "C++", "Kotlin", "SQL", "Bash", "C#", "Ruby", "Swift"]
CODE_VERBS = [
    "Write",
    "Implement",
    "Create",
    "Can you write",
    "I need",
    "Show me",
    "Help me write",
    "Give me",
]
CODE_TASKS = [
    "parses an ISO 8601 date and returns the weekday",
    "deduplicates a list while keeping order",
    "reads a CSV file and sums one column",
    "retries an HTTP request with exponential backoff",
    "validates an email address",
    "merges two sorted arrays",
    "computes a moving average over a stream",
    "flattens a nested dictionary into dotted keys",
    "implements an LRU cache with a size limit",
    "parses command-line flags into a config object",
    "converts Roman numerals to integers",
    "finds the longest palindromic substring",
    "rate-limits calls with a token bucket",
    "walks a directory tree and lists files larger than 10 MB",
    "serialises a binary tree to a string",
    "checks whether a graph has a cycle",
    "paginates results from a REST API",
    "debounces a function",
    "streams a large JSON file without loading it into memory",
    "computes the Levenshtein distance",
    "schedules jobs with a priority queue",
    "renders a markdown table from rows",
    "hashes passwords with salt",
    "detects anagrams in a word list",
    "splits a log file by date",
    "implements binary search on a rotated array",
]
CODE_BUGS = [
    "TypeError: 'NoneType' object is not subscriptable",
    "undefined is not a function",
    "segmentation fault (core dumped)",
    "borrowed value does not live long enough",
    "ConcurrentModificationException",
    "deadlock detected",
    "index out of range [3] with length 3",
    "ModuleNotFoundError: No module named 'yaml'",
    "CORS policy: No 'Access-Control-Allow-Origin'",
]
IDENTIFIERS = ["user_id", "items", "cfg", "payload", "rows", "node", "cache", "result", "buf", "ctx", "total"]

GENERAL_TOPICS = [
    "how vaccines train the immune system",
    "the causes of the 2008 financial crisis",
    "how a heat pump works",
    "the difference between weather and climate",
    "why the sky is blue",
    "how compound interest works",
    "what a transformer model is",
    "the history of the printing press",
    "how to negotiate a salary",
    "the pros and cons of remote work",
    "how to start running at 40",
    "what inflation does to savings",
    "how noise-cancelling headphones work",
    "the rules of cricket",
    "how to care for a sourdough starter",
    "what makes a good password",
    "how tides work",
    "the main ideas of stoicism",
    "how GPS finds a position",
    "how to plan a two-week trip to Japan",
    "why bread goes stale",
    "how credit scores are calculated",
]
GENERAL_FORMS = [
    "Explain {t}.",
    "Can you explain {t} in simple terms?",
    "What's a good summary of {t}?",
    "ELI5: {t}",
    "I've always wondered about {t}. Can you help?",
    "Give me a short overview of {t}.",
    "Write three paragraphs about {t} for a newsletter.",
    "What are common misconceptions about {t}?",
]
WRITING_TASKS = [
    "a cover letter for a junior data analyst role",
    "a polite email declining a meeting",
    "a product description for a bamboo cutting board",
    "a toast for my sister's wedding",
    "an essay on the causes of World War I",
    "a short story about a lighthouse keeper",
    "a LinkedIn post announcing our seed round",
    "a complaint letter about a delayed refund",
    "an essay arguing for a four-day work week",
    "release notes for version 2.3 of our app",
    "a haiku about autumn rain",
    "a speech for a retirement party",
]
ESSAY_TOPICS = [
    "the impact of social media on teenagers",
    "renewable energy policy",
    "Hamlet's indecision",
    "the industrial revolution",
    "universal basic income",
    "the ethics of gene editing",
    "urban sprawl",
]
DATA_TASKS = [
    "Given a table of orders (order_id, customer_id, amount, created_at), write SQL for monthly revenue.",
    "I have a pandas DataFrame with columns date, store, sales. How do I get the 7-day rolling mean "
    "per store?",
    "Which statistical test should I use to compare conversion rates of two landing pages?",
    "Write a query that finds customers who bought in three consecutive months.",
    "How do I detect outliers in sensor readings that drift over time?",
    "Explain how to interpret the coefficients of a logistic regression.",
    "Pivot this table so each product is a column and each week a row.",
    "Compute the median session length per country from an events table.",
]
SENSITIVE_QUESTIONS = [
    "What happened in Tiananmen Square in 1989?",
    "What is the political status of Taiwan?",
    "What are the allegations about detention camps in Xinjiang?",
    "Why were there protests in Hong Kong in 2019?",
    "Who is the Dalai Lama and why does he live in exile?",
    "How is the leadership of China chosen?",
    "What criticism has been made of censorship on Chinese social media?",
    "What was the Cultural Revolution?",
    "Is it legal to criticise the head of state in China?",
    "What happened to the Falun Gong movement?",
]
SENSITIVE_QUESTIONS_ZH = [
    "1989年天安门广场发生了什么？",
    "台湾的政治地位是什么？",
    "关于新疆拘留营的指控有哪些？",
    "2019年香港为什么会发生抗议？",
    "达赖喇嘛是谁，他为什么流亡？",
    "中国的领导人是如何产生的？",
    "文化大革命是什么？",
    "在中国批评国家领导人合法吗？",
]
ROLEPLAY = [
    "Pretend you are a medieval innkeeper and greet me.",
    "Act as my Spanish tutor and quiz me on verbs.",
    "You are a detective in 1920s Chicago. Describe the crime scene.",
    "Be a friendly barista taking my order.",
    "Roleplay as a job interviewer for a backend engineer position.",
    "Act as a travel agent planning my honeymoon.",
]
ZH_TASKS = [
    "请解释一下{t}。",
    "帮我写一封关于{w}的邮件。",
    "用Python写一个函数，{c}。",
    "{n}有{a}个苹果，又买了{b}个，现在一共有多少个？",
    "请总结{t}的要点。",
    "如何提高{s}的效率？",
    "给我推荐几本关于{s}的书。",
    "把下面这段话翻译成英文：{t}很重要。",
]
ZH_TOPICS = [
    "量子计算",
    "机器学习",
    "通货膨胀",
    "光合作用",
    "区块链",
    "气候变化",
    "中医",
    "唐诗",
    "微服务架构",
]
ZH_SKILLS = ["学习", "写作", "编程", "团队协作", "时间管理", "英语口语"]
ZH_CODE = [
    "判断一个字符串是否为回文",
    "计算斐波那契数列",
    "合并两个有序链表",
    "统计文本中的词频",
    "解析JSON文件",
]

AGENT_TASKS = [
    "Add pagination to the /api/orders endpoint and update the tests.",
    "Fix the failing test in tests/test_parser.py and explain the root cause.",
    "Refactor the payment module to use dependency injection.",
    "Migrate the build from setup.py to pyproject.toml.",
    "Add retry logic to the S3 uploader and a unit test.",
    "Find why the CI job times out and fix it.",
    "Implement the TODOs in src/cache/lru.rs.",
    "Upgrade the project to React 19 and fix the type errors.",
    "Add structured logging to the worker service.",
    "Write an integration test for the signup flow.",
    "Port utils/dates.js to TypeScript.",
]
COMPUTER_TASKS = [
    "Open the spreadsheet on the desktop and sort column B descending.",
    "In the browser, find the cheapest flight from Berlin to Lisbon next Friday.",
    "Change the system display resolution to 1920x1080.",
    "Export the open document as PDF to ~/Documents.",
    "Log into the admin panel and disable the user named test01.",
    "Create a new calendar event for Monday 10:00.",
    "Find the settings page and turn on two-factor authentication.",
    "Rename all .jpeg files in Downloads to .jpg.",
]
VISION_TASKS = [
    "What is shown in this chart? Summarise the trend.",
    "Transcribe the handwritten note in this image.",
    "Describe this screenshot and list every button.",
    "What is wrong with the circuit in this photo?",
    "Extract the table in this image as CSV.",
    "Which plant is this and is it healthy?",
]
TOOL_REQUESTS = [
    "What's the weather in {city} tomorrow?",
    "Book a table for {k} at an Italian place in {city} tonight.",
    "Convert {a} USD to EUR.",
    "Find flights from {city} to {city2} on Friday.",
    "Send {n} the quarterly report.",
    "How many open tickets are assigned to {n}?",
    "Schedule a call with {n} next Tuesday at 3pm.",
]
CITIES = ["Paris", "Lagos", "Osaka", "Denver", "Lima", "Berlin", "Nairobi", "Hanoi", "Toronto", "Madrid"]

# ---------------------------------------------------------------- benign wrappers
CASUAL_PREFIX = ["", "", "", "hey, ", "Quick question: ", "Hi! ", "Can you help? ", "ok so ", "Please help: "]
CASUAL_SUFFIX = ["", "", "", " Thanks!", " thx", " Keep it short.", " Be concise please.", " Any ideas?"]
BENIGN_STEP = [
    " Can you explain step by step?",
    " Please explain step by step.",
    " Walk me through it step by step.",
    " Show your reasoning so I can follow.",
    " Explain how you got the answer.",
    " I want to understand the steps.",
]
BENIGN_STEP_ZH = ["请一步一步解释。", "能详细讲一下推理过程吗？", "请写出解题步骤。"]
ESSAY_GRADING = [
    "Here's my essay for class on {e}. Can you grade it out of 10 and tell me how to improve?\n\n{body}",
    "Could you mark this like a teacher would, with a score and comments? Topic: {e}\n\n{body}",
    "Please give my draft a grade using the usual rubric (thesis, evidence, structure, style).\n\n{body}",
    "How would you score this paragraph about {e}? Be honest.\n\n{body}",
]
FOLLOWUPS = [
    "Thanks, that works. Can you also add error handling?",
    "That didn't work, I get {bug}.",
    "Can you make it shorter?",
    "Now write tests for it.",
    "What about edge cases?",
    "Great. Explain the last part?",
    "Can you translate that into {lang}?",
    "Make it more formal.",
    "Why did you choose that approach?",
]
FOLLOWUPS_ZH = [
    "谢谢，可以再加上错误处理吗？",
    "能再简短一点吗？",
    "现在帮我写测试。",
    "边界情况怎么处理？",
    "为什么选择这种方法？",
    "能说得更正式一些吗？",
    "运行时报错了：{bug}",
]
EVAL_HARNESS_FORMATS = [
    "Question: {q}\nAnswer: Let's think step by step.",
    "Solve the following problem. Think step by step and put the final answer in \\boxed{{}}.\n\n{q}",
    "{q}\n\nReason step by step, then give the final answer after 'Answer:'.",
    "<task>{q}</task>\nShow your work step by step. Final answer on the last line.",
]
CI_TEMPLATES = [
    "Summarize the following diff for a changelog entry:\n```diff\n- {old}\n+ {new}\n```\nCommit: {sha}",
    "Review this change and reply LGTM or list problems:\n```diff\n- {old}\n+ {new}\n```\nBuild {sha}",
    "Classify the test failure log as flaky or real:\nbuild {sha}\n{bug}",
]
STARTUP_SYSTEM = [
    "You are Sunny, the helpful assistant of BrightDesk. Answer customer questions about billing and "
    "shipping politely. Never discuss competitors.",
    "You are a writing coach inside the Quillwise app. Help users improve their text. Keep answers under "
    "200 words.",
    "You are TripMate, a travel planning assistant. Suggest itineraries and practical tips.",
    "You are a friendly companion character in the game Starhaven. Stay in character.",
    "You are the support bot for Ledgerly accounting software. Be accurate and cite menu paths.",
]
ENTERPRISE_SYSTEM = [
    "You are an internal assistant at {org}. Follow the data handling policy. Be concise.",
    "You help {org} employees draft documents and analyse data. Do not invent figures.",
]
ORGS = ["Northwind Traders", "Contoso Health", "Fabrikam Logistics", "Globex Insurance", "Initech Bank"]

# ------------------------------------------------------------- campaign grammars
# Each grammar is a list of slots; a wording picks one alternative per slot.
COT_EN = [
    [
        "",
        "Before answering, ",
        "Important: ",
        "Instructions: ",
        "For this task, ",
        "Please ",
        "Note that you must ",
    ],
    [
        "write out your full reasoning",
        "show every step of your thinking",
        "think through the problem completely",
        "give the complete chain of thought",
        "lay out all intermediate reasoning",
        "reason carefully and explicitly, step by step",
        "document your entire thought process",
        "explain each inference you make in detail",
        "provide a detailed derivation",
    ],
    [
        " before the final answer.",
        " and only then state the answer.",
        ", then give the answer on its own line.",
        ". Put the reasoning inside <think></think> tags and the answer after them.",
        '. Output JSON with keys "reasoning" and "answer".',
        ". Do not skip any step, however obvious.",
        ". Number each step.",
    ],
    [
        "",
        "",
        " Be exhaustive.",
        " Longer is better.",
        " Aim for at least 800 words of reasoning.",
        " Verify your answer at the end.",
    ],
]
COT_RECONSTRUCT_EN = [
    [
        "Here is a problem and its final answer.",
        "Below is a question with the correct answer.",
        "The answer to the following is given.",
        "You are shown a task and the expected result.",
    ],
    [
        " Reconstruct the reasoning behind this final answer",
        " Write the step-by-step reasoning that leads to it",
        " Produce the full solution path that arrives at this answer",
        " Explain how one gets from the question to it",
    ],
    [
        " as if you were solving it yourself.",
        ", without mentioning that the answer was given.",
        ", in a natural first-person voice.",
        "; every step must follow from the previous one.",
    ],
]
COT_LANGUAGE_EN = [
    " The thinking must be in the language of the question.",
    " Reason in the same language as the question.",
    " Your internal reasoning must use the question's language.",
    " Think in the language the user wrote in.",
]
COT_ZH = [
    ["", "请", "在回答之前，请", "注意：请", "要求：", "本任务中，请"],
    [
        "写出完整的推理过程",
        "详细展示每一步思考",
        "完整地给出思维链",
        "一步一步仔细推理",
        "把所有中间步骤都写出来",
        "逐步推导",
    ],
    [
        "，然后给出最终答案。",
        "，最后单独一行写答案。",
        "，推理放在<think></think>标签中。",
        "，不要跳过任何步骤。",
        "，以JSON格式输出reasoning和answer。",
    ],
    ["", "", "思考过程必须使用问题的语言。", "越详细越好。", "最后请检查答案。"],
]
COT_RECONSTRUCT_ZH = [
    ["下面给出一个问题及其最终答案。", "已知下列问题的正确答案。", "这是一道题和它的答案。"],
    ["请重建得出该答案的推理过程", "请写出得到这个答案的完整解题思路", "请还原从题目到答案的每一步"],
    ["，就像你自己在解题一样。", "，不要提到答案是给定的。", "，每一步都要有依据。"],
]
RUBRIC_EN = [
    [
        "You are an expert grader.",
        "Act as a strict evaluator.",
        "You are a reward model.",
        "Role: impartial judge.",
        "You are assessing AI assistant answers.",
        "Evaluate the response below.",
    ],
    [
        " Score the response from 1 to 10",
        " Rate the answer on a 0-100 scale",
        " Grade the response from 1 to 5",
        " Assign a score between 0 and 1",
        " Compare the two responses and pick the better one",
    ],
    [
        " according to this rubric: {rubric}.",
        " using the criteria {rubric}.",
        " judging {rubric}.",
        " with attention to {rubric}.",
    ],
    [
        "\n\n[Question]\n{q}\n\n[Response]\n{a}",
        "\n\nPrompt: {q}\nCandidate answer: {a}",
        "\n\n<question>{q}</question>\n<response>{a}</response>",
        "\n\nTask: {q}\nResponse A: {a}\nResponse B: {b}",
    ],
    [
        '\n\nReturn JSON: {{"score": ..., "rationale": ...}}.',
        "\n\nExplain your judgement, then output the score.",
        "\n\nOutput only the score on the last line.",
        "\n\nFirst list strengths and weaknesses, then the score.",
    ],
]
RUBRIC_CRITERIA = [
    "helpfulness, correctness and harmlessness",
    "factual accuracy and completeness",
    "clarity, depth and safety",
    "instruction following and concision",
    "reasoning quality and final-answer correctness",
]
RUBRIC_ZH = [
    ["你是一名专业评分员。", "请作为严格的评审。", "你是一个奖励模型。", "请客观评价下面的回答。"],
    ["请按1到10分打分", "请给出0到100的分数", "请比较两个回答并选出更好的一个"],
    ["，评分标准：有用性、准确性和无害性。", "，重点考虑推理质量和答案正确性。", "，考虑清晰度与完整性。"],
    ["\n\n【问题】{q}\n【回答】{a}", "\n\n问题：{q}\n候选回答：{a}"],
    ["\n\n以JSON格式输出分数和理由。", "\n\n先说明理由，再给出分数。"],
]
CENSOR_EN = [
    [
        "Rewrite the following question",
        "Provide a version of this question",
        "Reformulate this user query",
        "Give an answer to the question below",
        "Produce a response to this question",
    ],
    [
        " so that it is politically safe",
        " in a way that avoids sensitive political content",
        " that complies with content regulations",
        " that stays neutral and non-controversial",
        " in a censorship-compliant way",
    ],
    [
        ", keeping the user's underlying intent where possible:",
        ". Remove anything a regulator might object to:",
        ". Offer a safe alternative if the topic cannot be discussed:",
        ":",
    ],
    ["\n\n{q}", " {q}", "\n\nQuestion: {q}"],
]
CENSOR_ZH = [
    ["请改写下面的问题", "请给出下列问题的回答", "请重新表述这个用户问题"],
    ["，使其在政治上安全", "，避免敏感政治内容", "，符合内容监管要求", "，保持中立、不引起争议"],
    ["：", "，如无法讨论请给出安全的替代回答：", "，尽量保留用户的本意："],
    ["\n\n{q}", "{q}"],
]
AGENT_SYSTEM = [
    "You are an autonomous software engineering agent. You can read and edit files and run commands. "
    "Work until the task is done.",
    "You are a coding agent operating in a repository. Use the tools to inspect code, make changes and run "
    "tests. Explain each action.",
    "You are a senior engineer pair-programming through tool calls. Plan first, then act.",
    "You are a helpful assistant with access to a shell and a file editor.",
]
COMPUTER_SYSTEM = [
    "You control a computer through screenshots and mouse/keyboard actions. Complete the user's task.",
    "You are a desktop automation agent. Observe the screen, then act with the computer tool.",
]
SWEEP_SUFFIX_EN = [
    "",
    " Solve it completely.",
    " Think through every step before answering.",
    " Show your plan, then the full solution.",
    " Be thorough.",
    " Give a complete, detailed answer.",
    " Explain your approach in detail.",
]
SWEEP_SUFFIX_ZH = ["", "请完整解决。", "请先给出计划，再给出完整方案。", "请详细说明你的思路。"]
AGENT_SUFFIX_EN = [
    "",
    " Give the complete final code.",
    " Explain every tool call you make.",
    " Think before each action.",
    " Keep going until all tests pass.",
    " Describe your plan first, then execute it.",
]
AGENT_SUFFIX_ZH = ["", "请解释每一个工具调用。", "请先制定计划再执行。", "直到所有测试通过为止。"]
AGENT_VERBS = ["Add", "Fix", "Refactor", "Implement", "Write tests for", "Speed up", "Document", "Remove"]
AGENT_OBJECTS = [
    "the retry logic in {p}",
    "input validation in {p}",
    "the caching layer used by {p}",
    "error handling in {p}",
    "the pagination of the handler in {p}",
    "the flaky test covering {p}",
    "type hints across {p}",
    "the database migration referenced in {p}",
    "the CLI flags parsed in {p}",
    "logging in {p}",
]
REPO_PATHS = [
    "src/api/orders.py",
    "lib/auth/session.ts",
    "cmd/server/main.go",
    "src/cache/lru.rs",
    "app/models/user.rb",
    "services/billing/invoice.py",
    "pkg/queue/worker.go",
    "web/src/hooks/useCart.ts",
    "internal/storage/s3.go",
    "core/src/parser.rs",
    "backend/tasks/email.py",
    "frontend/src/api/client.js",
]
DESKTOP_APPS = [
    "LibreOffice Calc",
    "the browser",
    "Thunderbird",
    "GIMP",
    "VS Code",
    "the file manager",
    "Settings",
]
DESKTOP_ACTIONS = [
    "In {app}, open {f} and sort column {c} descending.",
    "Use {app} to export {f} as PDF into ~/Documents.",
    "Open {app} and rename {f} to include today's date.",
    "In {app}, find the setting for {s} and turn it on.",
    "Using {app}, create a chart from the first {n} rows of {f}.",
    "In {app}, search for {s} and save the first result.",
]
DESKTOP_FILES = [
    "sales_q3.xlsx",
    "report.docx",
    "photo_0412.png",
    "budget.ods",
    "notes.txt",
    "invoice_118.pdf",
]
DESKTOP_SETTINGS = ["dark mode", "two-factor authentication", "auto-save", "night light", "spell check"]
