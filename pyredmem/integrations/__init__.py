"""Adapters that let frameworks keep their state in pyredmem, each behind its own extra:

- `pyredmem.integrations.langchain` (`pip install pyredmem[langchain]`): a LangChain
  `BaseChatMessageHistory` over a pyredmem thread.
- `pyredmem.integrations.openai_agents` (`pyredmem[openai-agents]`): a `Session` for the
  OpenAI Agents SDK.
- `pyredmem.integrations.langgraph` (`pyredmem[langgraph]`): a LangGraph `BaseStore`.

Importing one without its framework installed raises ImportError naming the extra.
"""
