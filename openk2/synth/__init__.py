"""K2-style agentic data synthesis: task families with checkers, synthetic tools, simulated users, expert rollouts
and a judge, in a training split and a held-out one (`openk2 synth`).

    import openk2.synth as synth
    tasks = synth.load_tasks("data/heldout/tasks.jsonl")       # or synth.generate_tasks("heldout", n=200)
    env = tasks[0].environment()                               # a fresh world: env.tools, env.messages, env.user
    grade = tasks[0].grade(env, messages)                      # Grade(passed, category, reasons)
    episode = await synth.run_episode(tasks[0], openai.AsyncOpenAI(...), "model")
"""

from .episode import Episode, run_episode
from .family import FAMILIES, families_for
from .pipeline import generate, generate_tasks
from .grade import CATEGORIES, Grade
from .rollout import judge, replay
from .task import Environment, Task, load_tasks

__all__ = ["CATEGORIES", "FAMILIES", "Environment", "Episode", "Grade", "Task", "families_for", "generate",
           "generate_tasks", "judge", "load_tasks", "replay", "run_episode"]
